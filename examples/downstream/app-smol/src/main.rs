//! An application of `mirror-fetch` that picks smol: `taskscope = { features = ["smol"] }`
//! in its Cargo.toml, and `smol::block_on`. The library inside needs nothing else.
#![forbid(unsafe_code)]

fn main() {
    smol::block_on(async {
        // Which runtime taskscope detected here (the story below is the same on every one).
        println!("runtime: {}", taskscope::runtime().expect("the smol feature always finds one").name());
        for line in mirror_fetch::story().await {
            println!("{line}");
        }
    });
}
