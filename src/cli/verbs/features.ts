import { out } from '../output';
import { features as describe } from '../../spec/features';
import { parseFlags } from '../args';
import type { Verb } from '../context';

export const features: Verb = async (args) => {
  parseFlags(args, []);
  out(JSON.stringify(describe(), null, '    ') + '\n');
  return 0;
};
