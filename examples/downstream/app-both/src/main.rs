//! An application of `mirror-fetch` with both of taskscope's features (`features = ["tokio",
//! "smol"]`): additive, and the runtime the code runs on is detected. It runs the story on a
//! tokio runtime, or with `--smol` on smol's executor, and prints which one taskscope picked.
#![forbid(unsafe_code)]

async fn tell() {
    println!("runtime: {}", taskscope::runtime().expect("tokio or smol is always found here").name());
    for line in mirror_fetch::story().await {
        println!("{line}");
    }
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        None | Some("--tokio") => tokio::runtime::Runtime::new().expect("a tokio runtime").block_on(tell()),
        Some("--smol") => smol::block_on(tell()),
        Some(other) => {
            eprintln!("usage: mirror-fetch-app-both [--tokio|--smol] (got {other:?})");
            std::process::exit(2);
        }
    }
}
