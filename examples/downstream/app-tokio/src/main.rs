//! An application of `mirror-fetch` that picks tokio: `taskscope = { features = ["tokio"] }`
//! in its Cargo.toml, and `#[tokio::main]`. The library inside needs nothing else.
#![forbid(unsafe_code)]

#[tokio::main]
async fn main() {
    // Which runtime taskscope detected here (the story below is the same on every one).
    println!("runtime: {}", taskscope::runtime().expect("inside #[tokio::main]").name());
    for line in mirror_fetch::story().await {
        println!("{line}");
    }
}
