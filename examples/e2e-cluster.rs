//! Starts the end-to-end control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler, kwok and Flux kustomize-controller on 127.0.0.1), prints its KUBECONFIG, and
//! keeps it running until Ctrl-C or Enter. With `--seed`, also publishes and applies the seed
//! pipeline of `tests/e2e/fixtures` in namespace `shop`.
//!
//!     cargo run --example e2e-cluster -- --seed

#[path = "../tests/e2e/fixtures.rs"]
mod fixtures;
#[path = "../tests/e2e/harness.rs"]
mod harness;

use std::io::BufRead;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> harness::Result<()> {
    let seed = std::env::args().any(|a| a == "--seed");
    let tools = harness::Tools::build()?;
    let options = harness::Options { log_namespaces: vec!["shop".into()], ..harness::Options::default() };
    let plane = harness::ControlPlane::start(tools, &std::env::temp_dir(), &options)?;
    if seed {
        fixtures::Pipeline::seed("shop").install(&plane)?;
    }
    println!("export KUBECONFIG={}", plane.kubeconfig.display());
    eprintln!("Control plane running. Try: kubectl fluxjobs status -n shop   (press Enter or Ctrl-C to stop)");
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    Ok(())
}
