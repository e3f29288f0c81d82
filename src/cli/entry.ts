// The bundled CLI's entry point.
import { main } from './main';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => { process.stderr.write(`capsa: ${String(e)}\n`); process.exitCode = 1; },
);
