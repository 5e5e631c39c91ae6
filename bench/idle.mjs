// Idle VmRSS of one build after the bench's setup (org, clients, imported users), one sample:
// `BENCH_IDP_BIN=path/to/idp node bench/idle.mjs`. Alternate two builds a few times to compare them;
// on a 2-core host samples of one build spread by about 0.3 MiB.
import { setupMotcua, passwordHash, status, PASSWORD, cleanup } from './bench.mjs';
const sys = await setupMotcua(await passwordHash(PASSWORD));
await new Promise((r) => setTimeout(r, 1000));
const s = status(sys.pid);
console.log(JSON.stringify({ bin: process.env.BENCH_IDP_BIN, rss_mib: +(s.rss_kb / 1024).toFixed(2), anon_mib: +(s.anon_kb / 1024).toFixed(2) }));
await cleanup();
