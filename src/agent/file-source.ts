/**
 * The wanted set and credentials outside a cluster: `--images-file` (one reference a line, `#` comments)
 * and `--registry-config` (Docker config.json), each re-read when it changes. fs.watch on the parent
 * directory reacts at once (it also sees editors' and ConfigMap volumes' rename-into-place), and a slow
 * poll catches what watchers miss on some filesystems. A file that becomes unreadable keeps the last
 * good content: losing the wanted set must never look like "nothing is wanted".
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { MeshwasmError } from '../errors.js';
import type { Logger } from '../log.js';
import { parseImagesList } from '../mesh/images.js';
import { ioError } from '../oci/files.js';

export interface SourceHandlers {
  wanted(references: string[]): void;
  /** the registry config changed (its path stays the same; its content is re-read by the puller) */
  credentialsChanged(): void;
}

export interface Source {
  stop(): Promise<void>;
}

export async function startFileSource(options: {
  imagesFile: string;
  registryConfig?: string;
  pollMs?: number;
  log: Logger;
  handlers: SourceHandlers;
}): Promise<Source> {
  const { log, handlers } = options;
  const imagesFile = resolve(options.imagesFile);
  let imagesText: string;
  try {
    imagesText = await readFile(imagesFile, 'utf8');
  } catch (err) {
    const e = ioError(err, `cannot read --images-file ${imagesFile}`);
    throw new MeshwasmError('CONFIG', e.message, {
      hint: 'give a file with one image reference a line (registry/repository@sha256:... or :tag)',
      cause: err,
    });
  }
  handlers.wanted(parseImagesList(imagesText));
  const registryConfig = options.registryConfig ? resolve(options.registryConfig) : undefined;
  let configText = registryConfig ? await readFile(registryConfig, 'utf8').catch(() => undefined) : undefined;

  let checking = false;
  let again = false;
  const check = async (): Promise<void> => {
    if (checking) {
      again = true;
      return;
    }
    checking = true;
    try {
      do {
        again = false;
        try {
          const text = await readFile(imagesFile, 'utf8');
          if (text !== imagesText) {
            imagesText = text;
            log.info({ file: imagesFile }, 'images file changed');
            handlers.wanted(parseImagesList(text));
          }
        } catch (err) {
          log.warn(
            { file: imagesFile, err: (err as Error).message },
            'cannot read the images file; keeping the last set',
          );
        }
        if (registryConfig) {
          const text = await readFile(registryConfig, 'utf8').catch(() => undefined);
          if (text !== configText) {
            configText = text;
            log.info({ file: registryConfig }, 'registry config changed');
            handlers.credentialsChanged();
          }
        }
      } while (again);
    } finally {
      checking = false;
    }
  };

  const watchers: FSWatcher[] = [];
  for (const file of [imagesFile, registryConfig]) {
    if (!file) continue;
    try {
      const w = watch(dirname(file), (_event, name) => {
        if (!name || name === basename(file) || name.startsWith('..')) void check();
      });
      w.on('error', () => undefined);
      watchers.push(w);
    } catch {
      // The poll below still notices changes.
    }
  }
  const poll = setInterval(() => void check(), options.pollMs ?? 2000);
  poll.unref();
  return {
    async stop() {
      clearInterval(poll);
      for (const w of watchers) w.close();
    },
  };
}
