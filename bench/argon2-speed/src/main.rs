//! Argon2id hashes per second per core, with the same crate, algorithm and version as Motcua
//! (`idp/src/crypto/password.rs`). A login verification is one hash. THREADS hashes run at
//! once (Motcua lets as many hashes as cores run in parallel), each on its own thread.
//! The rate is per second of this process's CPU time (utime+stime from /proc/self/stat, in
//! clock ticks of 1/100 s), so other load on the machine does not lower it.
//! Usage: argon2-speed [MEMORY_KIB] [ITERATIONS] [SECONDS] [THREADS]; prints one JSON line.

use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, Version};

fn main() {
    let args: Vec<u32> = std::env::args().skip(1).map(|a| a.parse().expect("a number")).collect();
    let memory_kib = args.first().copied().unwrap_or(19_456);
    let iterations = args.get(1).copied().unwrap_or(2);
    let budget = Duration::from_secs(u64::from(args.get(2).copied().unwrap_or(3)));
    let threads = args.get(3).copied().unwrap_or(1).max(1);
    let params = Params::new(memory_kib, iterations, 1, None).expect("valid parameters");
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let params = params.clone();
            std::thread::spawn(move || {
                let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                let mut out = [0u8; 32];
                let mut n = 0u32;
                while start.elapsed() < budget {
                    argon2.hash_password_into(b"correct horse battery", b"0123456789abcdef", &mut out).expect("hash");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let n: u32 = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let per_core = f64::from(n) / cpu;
    println!(
        "{{\"memory_kib\":{memory_kib},\"iterations\":{iterations},\"threads\":{threads},\"hashes\":{n},\"seconds\":{secs:.3},\"cpu_seconds\":{cpu:.2},\"hashes_per_s_per_core\":{per_core:.2},\"ms_per_hash\":{:.3}}}",
        1000.0 / per_core
    );
}

/// utime + stime of this process, all threads (fields 14 and 15 of /proc/self/stat).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / 100.0
}
