//! Interoperability tests against real, independent ROS 2 / DDS peers (no mocks):
//! a Cyclone DDS peer (Python `cyclonedds`, XCDR1) publishes `people_msgs/People`
//! (and `/tf`) and reads `lbebm_msgs/PredictionArray`; an rclpy (ROS 2 Jazzy, Fast
//! DDS) peer reads the `MarkerArray`, finds the node in the ROS graph and reads one of
//! its parameters through the parameter service.
//!
//! They open DDS sockets, so they are `#[ignore]`d and must only run inside
//! `shared/tools/netns-run` (a network namespace with loopback only); they refuse to
//! run where another interface is up. `.ci/ros-tests` installs the peers and runs
//! them:
//!
//! ```text
//! ../shared/tools/netns-run 'ROS_DOMAIN_ID=42 cargo test -p lbebm-ros --test interop -- --ignored --test-threads 1'
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The interfaces of this network namespace (from /proc/net/dev, which is per
/// namespace, unlike /sys/class/net).
fn interfaces() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/net/dev").unwrap_or_default();
    text.lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|s| s.trim().to_string())
        .collect()
}

fn guard() -> (String, String) {
    let ifs = interfaces();
    assert!(
        ifs.iter().all(|i| i == "lo"),
        "refusing to open DDS with network interfaces {ifs:?}: run inside shared/tools/netns-run"
    );
    let domain = std::env::var("ROS_DOMAIN_ID").unwrap_or_default();
    let domain = if domain.trim().is_empty() || domain.trim() == "0" {
        "42".to_string()
    } else {
        domain
    };
    let python = std::env::var("LBEBM_ROS_PYTHON").unwrap_or_else(|_| {
        workspace()
            .join("target/ros-venv/bin/python")
            .display()
            .to_string()
    });
    assert!(
        Path::new(&python).exists(),
        "no Python with the ROS 2 peers at {python}: run .ci/ros-tests (or set LBEBM_ROS_PYTHON)"
    );
    (domain, python)
}

struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(dir.join(format!("{name}.out"))).expect("log file");
        let err = std::fs::File::create(&log).expect("log file");
        let child = cmd
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name, child, log }
    }

    fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn stdout(&self) -> String {
        let p = self.log.with_extension("out");
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(p) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn report(&self) -> String {
        let tail = |s: String| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        format!(
            "--- {} stdout:\n{}\n--- {} stderr (tail):\n{}\n",
            self.name,
            tail(self.stdout()),
            self.name,
            tail(self.stderr())
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn sigterm(p: &Proc) {
    let _ = Command::new("kill")
        .args(["-TERM", &p.child.id().to_string()])
        .status();
}

fn node_cmd(domain: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lbebm_node"));
    c.env("ROS_DOMAIN_ID", domain)
        .env(
            "RUST_LOG",
            "lbebm_ros=debug,warn,rustdds::network::udp_sender=error",
        )
        .arg("--ros-args")
        .args(extra);
    c
}

fn peer_cmd(python: &str, domain: &str, script: &str, args: &[&str]) -> Command {
    let mut c = Command::new(python);
    c.env("ROS_DOMAIN_ID", domain)
        .env("PYTHONUNBUFFERED", "1")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/peers")
                .join(script),
        )
        .args(args);
    c
}

fn json_ok(p: &Proc) -> bool {
    p.stdout()
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .is_some_and(|l| l.contains("\"ok\": true"))
}

/// People from Cyclone DDS (in an `odom` frame, with `/tf` map→odom) come back as
/// predictions near each person's constant-velocity extrapolation, after a burst of
/// malformed messages; rclpy sees markers, the node in the graph and a parameter;
/// SIGTERM ends the node within a second.
#[test]
#[ignore = "opens DDS: run inside shared/tools/netns-run via .ci/ros-tests"]
fn cyclone_people_in_rclpy_and_cyclone_out() {
    let (domain, python) = guard();
    let dir = tempfile::tempdir().expect("tmp");
    let mut node = Proc::spawn(
        "lbebm_node",
        node_cmd(&domain, &["-p", "num_samples:=8", "-p", "rate_hz:=10.0"]),
        dir.path(),
    );
    let mut rclpy = Proc::spawn(
        "rclpy_peer",
        peer_cmd(
            &python,
            &domain,
            "rclpy_peer.py",
            &["--expect", "8", "--timeout", "60"],
        ),
        dir.path(),
    );
    let mut cyclone = Proc::spawn(
        "cyclone_peer",
        peer_cmd(
            &python,
            &domain,
            "cyclone_peer.py",
            &[
                "check",
                "--people",
                "4",
                "--k",
                "8",
                "--duration",
                "8",
                "--timeout",
                "50",
                "--frame",
                "odom",
                "--tf",
                "3.0,-2.0,0.5",
                "--abuse",
            ],
        ),
        dir.path(),
    );
    let c = cyclone.wait(Duration::from_secs(90));
    let r = rclpy.wait(Duration::from_secs(30));
    let alive = matches!(node.child.try_wait(), Ok(None));
    let t0 = Instant::now();
    sigterm(&node);
    let n = node.wait(Duration::from_secs(5));
    let stop = t0.elapsed();
    let logs = format!("{}{}{}", cyclone.report(), rclpy.report(), node.report());
    assert!(alive, "the node died during the test\n{logs}");
    assert!(
        c.is_some_and(|s| s.success()) && json_ok(&cyclone),
        "Cyclone peer failed ({c:?})\n{logs}"
    );
    assert!(
        r.is_some_and(|s| s.success()) && json_ok(&rclpy),
        "rclpy peer failed ({r:?})\n{logs}"
    );
    assert!(
        n.is_some_and(|s| s.success()),
        "node did not exit cleanly on SIGTERM ({n:?})\n{logs}"
    );
    assert!(
        stop < Duration::from_millis(1500),
        "node took {stop:?} to stop\n{logs}"
    );
    // the malformed messages were noticed and logged, not fatal
    let err = node.stderr();
    for expected in [
        "clipped to max_agents",
        "non-finite",
        "invalid header stamp",
        "no transform from nowhere to map",
        "out-of-order",
    ] {
        assert!(
            err.contains(expected),
            "node log lacks {expected:?}\n{logs}"
        );
    }
    eprintln!("{logs}\nnode stopped {stop:?} after SIGTERM");
}

/// A node renamed with `-r __node:=...`, configured by a `--params-file` and `-p`,
/// serves its parameters under the new name and still predicts.
#[test]
#[ignore = "opens DDS: run inside shared/tools/netns-run via .ci/ros-tests"]
fn renamed_node_and_params_file() {
    let (domain, python) = guard();
    let dir = tempfile::tempdir().expect("tmp");
    let params = dir.path().join("p.yaml");
    std::fs::write(
        &params,
        "/**:\n  ros__parameters:\n    num_samples: 5\n    fixed_frame: map\n",
    )
    .expect("write");
    let mut node = Proc::spawn(
        "lbebm_node",
        node_cmd(
            &domain,
            &[
                "-r",
                "__node:=predictor",
                "--params-file",
                params.to_str().expect("utf8"),
                "-p",
                "max_agents:=16",
            ],
        ),
        dir.path(),
    );
    let mut rclpy = Proc::spawn(
        "rclpy_peer",
        peer_cmd(
            &python,
            &domain,
            "rclpy_peer.py",
            &[
                "--node",
                "/predictor",
                "--param",
                "max_agents",
                "--expect",
                "16",
                "--min-arrays",
                "2",
                "--timeout",
                "60",
            ],
        ),
        dir.path(),
    );
    let mut cyclone = Proc::spawn(
        "cyclone_peer",
        peer_cmd(
            &python,
            &domain,
            "cyclone_peer.py",
            &[
                "check",
                "--people",
                "2",
                "--k",
                "5",
                "--duration",
                "6",
                "--timeout",
                "50",
            ],
        ),
        dir.path(),
    );
    let c = cyclone.wait(Duration::from_secs(90));
    let r = rclpy.wait(Duration::from_secs(30));
    sigterm(&node);
    let n = node.wait(Duration::from_secs(5));
    let logs = format!("{}{}{}", cyclone.report(), rclpy.report(), node.report());
    assert!(
        c.is_some_and(|s| s.success()) && json_ok(&cyclone),
        "Cyclone peer failed ({c:?})\n{logs}"
    );
    assert!(
        r.is_some_and(|s| s.success()) && json_ok(&rclpy),
        "rclpy peer failed ({r:?})\n{logs}"
    );
    assert!(n.is_some_and(|s| s.success()), "node exit {n:?}\n{logs}");
}
