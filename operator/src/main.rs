//! mockmodel-operator: reconciles MockModel resources (placeholder until the operator issue lands).

fn main() {
    eprintln!(
        "mockmodel-operator {}: not implemented yet",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
