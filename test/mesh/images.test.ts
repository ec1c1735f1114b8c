import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { describe, expect, it } from 'vitest';
import {
  imagesConfigMap,
  parseImagesList,
  pinnedReference,
  parseImageReference,
  renderImagesList,
} from '../../src/mesh/index.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;

describe('images list', () => {
  it('is sorted, unique, one a line with a trailing newline', () => {
    const refs = [`r.example.com/b@${d('b')}`, `r.example.com/a@${d('a')}`, `r.example.com/b@${d('b')}`];
    expect(renderImagesList(refs)).toBe(`r.example.com/a@${d('a')}\nr.example.com/b@${d('b')}\n`);
  });

  it('is empty for no references and does not depend on input order', () => {
    expect(renderImagesList([])).toBe('');
    const a = [`x.io/p@${d('1')}`, `x.io/q@${d('2')}`, `x.io/o@${d('3')}`];
    expect(renderImagesList(a)).toBe(renderImagesList([...a].reverse()));
  });

  it('parses back what it renders, ignoring blanks and comments', () => {
    const refs = [`r.example.com/b@${d('b')}`, `r.example.com/a@${d('a')}`];
    expect(parseImagesList(renderImagesList(refs))).toEqual([...refs].sort());
    expect(parseImagesList(`# wanted\n\n  ${refs[0]}  \r\n`)).toEqual([refs[0]]);
    expect(parseImagesList(undefined)).toEqual([]);
  });

  it('pins references by registry/repository@digest', () => {
    expect(
      pinnedReference(
        parseImageReference('acree-1-registry.cn-hangzhou.cr.aliyuncs.com/asm/asm-test:v0.1'),
        d('e'),
      ),
    ).toBe(`acree-1-registry.cn-hangzhou.cr.aliyuncs.com/asm/asm-test@${d('e')}`);
    expect(pinnedReference(parseImageReference('busybox'), d('e'))).toBe(
      `docker.io/library/busybox@${d('e')}`,
    );
    expect(() => pinnedReference(parseImageReference('busybox'), 'sha256:xyz')).toThrow(
      /not a manifest digest/,
    );
  });

  it('renders the ConfigMap istio-system/asmwasm-images, valid for core/v1', () => {
    const cm = imagesConfigMap([`r.example.com/a@${d('a')}`]);
    expect(cm.metadata).toMatchObject({ name: 'asmwasm-images', namespace: 'istio-system' });
    expect(cm.data).toEqual({ images: `r.example.com/a@${d('a')}\n` });
    expect(() => new ConfigMap(cm as never).validate()).not.toThrow();
    expect(imagesConfigMap([], 'mesh').metadata.namespace).toBe('mesh');
  });
});
