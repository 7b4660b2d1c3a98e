//! mirror-fetch on every backend: each test below runs as `<name>::tokio_mt`, `::tokio_ct`,
//! `::smol_mt` and `::smol_st`, through one dev-dependency on taskscope with the `testing`
//! feature and no runtime code here.

use std::num::NonZeroUsize;
use std::time::Duration;

use mirror_fetch::{FetchError, Mirror, fetch_all, fetch_each, fetch_fastest, story};
use taskscope::ScopeError;

fn limit(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

/// What every application prints after its `runtime:` line (CI compares the apps' output too).
const STORY: &[&str] = &[
    "fan-out: 6 pages from eu, at most 2 at once (peak 2): a.txt, b.txt, c.txt, d.txt, e.txt, f.txt",
    "deadline: gave up on slow after the overall deadline; 6 fetches cancelled, 0 still in flight",
    "first failure: not found: missing-1.txt (1 error); 3 other fetches cancelled, 0 still in flight",
    "race: index.html from near; 1 slower mirror cancelled, 0 still in flight",
    "collect-all: 2 pages (a.txt, c.txt)",
    "  missing, skipped: missing-1.txt, missing-2.txt",
    "  other errors, reported: down refused the connection",
];

taskscope::test_on_every_backend! {
    async fn fan_out_keeps_the_limit_and_the_order() {
        let eu = Mirror::new("eu", Duration::from_millis(5));
        let pages = fetch_all(&eu, &["c", "a", "b", "d", "e"], limit(2), Duration::from_secs(30)).await.unwrap();
        let order: Vec<_> = pages.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(order, ["c", "a", "b", "d", "e"]);
        assert_eq!(eu.peak(), 2);
        assert_eq!(eu.in_flight(), 0);
    }

    async fn the_overall_deadline_cancels_every_fetch() {
        let slow = Mirror::new("slow", Duration::from_secs(30));
        let err = fetch_all(&slow, &["a", "b", "c"], limit(3), Duration::from_millis(20)).await.unwrap_err();
        assert!(err.is_elapsed(), "{err}");
        assert_eq!((slow.cancelled(), slow.in_flight()), (3, 0));
    }

    async fn the_first_failure_cancels_the_rest() {
        let us = Mirror::new("us", Duration::from_secs(30));
        let err = fetch_all(&us, &["a", "missing-x", "b"], limit(3), Duration::from_secs(30)).await.unwrap_err();
        let ScopeError::Failed(group) = err else { panic!("not a failure: {err}") };
        assert_eq!(group.len(), 1, "{group}");
        assert_eq!(group.cause(), &FetchError::NotFound { path: "missing-x".into() });
        assert_eq!((us.cancelled(), us.in_flight()), (2, 0));
    }

    async fn the_first_answer_wins_and_the_rest_are_cancelled() {
        let mirrors = [Mirror::new("far", Duration::from_secs(30)), Mirror::new("near", Duration::from_millis(5))];
        let page = fetch_fastest(&mirrors, "index.html").await.unwrap();
        assert_eq!(page.mirror, "near");
        assert_eq!((mirrors[0].cancelled(), mirrors[0].in_flight()), (1, 0));
    }

    async fn when_every_mirror_fails_the_race_gives_every_error() {
        let mirrors = [Mirror::refusing("x"), Mirror::refusing("y")];
        let Err(ScopeError::Failed(group)) = fetch_fastest(&mirrors, "index.html").await else { panic!("no group") };
        let mut refused: Vec<_> = group.iter().map(ToString::to_string).collect();
        refused.sort();
        assert_eq!(refused, ["x refused the connection", "y refused the connection"]);
    }

    async fn errors_split_by_kind() {
        let eu = Mirror::new("eu", Duration::from_millis(2));
        let jobs = [(eu.clone(), "ok"), (eu.clone(), "missing-b"), (Mirror::refusing("down"), "x"), (eu, "missing-a")];
        let report = fetch_each(&jobs).await.unwrap();
        assert_eq!(report.pages.len(), 1);
        assert_eq!(report.missing, ["missing-a", "missing-b"]);
        let other = report.other.expect("the refusal");
        assert_eq!(other.iter().collect::<Vec<_>>(), [&FetchError::Refused { mirror: "down" }]);
    }

    async fn the_story_is_the_same_on_every_backend() {
        assert_eq!(story().await, STORY);
    }
}
