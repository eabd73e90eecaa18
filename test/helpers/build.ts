import { execFileSync } from 'node:child_process';
import { ROOT } from './paths.js';

/** Integration tests run the built CLI and threads, as users do; build once before the suite. */
export default function setup(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
}
