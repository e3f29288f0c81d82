import { out } from '../output';
import { features as describe, CAPSA_VERSION } from '../../spec/features';
import { hostFeatureAnnotations } from '../../spec/features-host';
import { parseFlags } from '../args';
import type { Verb } from '../context';

export const features: Verb = async (args) => {
  parseFlags(args, []);
  out(JSON.stringify(describe(CAPSA_VERSION, hostFeatureAnnotations()), null, '    ') + '\n');
  return 0;
};
