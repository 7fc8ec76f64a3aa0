// The CommonJS build lives in a "type": "module" package: mark its folder as CommonJS.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_DIR } from './service.mjs';

writeFileSync(join(PACKAGE_DIR, 'dist', 'cjs', 'package.json'), '{\n  "type": "commonjs"\n}\n');
