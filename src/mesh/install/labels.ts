/** Labels shared by every object `meshwasm install` creates, so uninstall and users can find them. */
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, NAME_LABEL, PART_OF_LABEL } from '../types.js';

export function commonLabels(name?: string): Record<string, string> {
  return {
    ...(name !== undefined ? { [NAME_LABEL]: name } : {}),
    [PART_OF_LABEL]: 'meshwasm',
    [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
  };
}
