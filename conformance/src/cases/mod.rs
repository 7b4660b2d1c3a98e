//! The cases, one module per rule family. Each case is `fn(&dyn Harness)`, panics on failure,
//! and is named after the rule it proves.

mod cancel;
mod failure;
mod scope;
mod token;

pub use cancel::*;
pub use failure::*;
pub use scope::*;
pub use token::*;

use crate::Case;

/// Calls `$cb! { case, case, ... }` with every case name: the one list of cases, used both by
/// [`ALL`] and by the [`suite!`](crate::suite) macro.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_cases {
    ($($cb:tt)::+) => {
        $($cb)::+! {
            s1_scope_waits_for_every_child_drop,
            s1_cancelled_children_dropped_before_return,
            s1_nested_scope_in_body_drained_before_outer_returns,
            s1_nested_scope_in_child_drained_before_outer_returns,
            s2_body_runs_concurrently_with_children,
            s2_late_spawns_are_waited_for,
            s3_child_spawns_siblings_and_nested_scopes,
            s4_spawn_into_cancelling_scope_is_refused,
            s5_escaped_spawner_is_closed,
            s6_empty_scope_completes_at_once,
            s6_five_thousand_nested_scopes,
            f1_child_error_cancels_siblings,
            f1_body_error_cancels_children,
            f1_child_error_cancels_body,
            f2_single_error_is_a_group_of_one,
            f2_errors_collected_in_completion_order,
            f2_errors_during_grace_follow_the_cause,
            f3_no_error_lost_or_duplicated,
            f3_handle_of_failed_child_has_no_error_copy,
            f4_value_after_cancellation_is_dropped,
            f5_panic_resumes_in_owner_after_siblings_dropped,
            f5_body_panic_resumes_after_children_dropped,
            f5_siblings_see_panic_reason,
            f6_group_splits_by_type_and_displays_names,
            f6_nested_scopes_nest_groups,
            f7_panic_in_destructor_during_cancel,
            c1_token_fires_before_children_dropped,
            c1_cancel_takes_effect_at_next_suspension,
            c2_grace_period_allows_async_cleanup,
            c2_grace_expiry_drops_stubborn_children,
            c3_dropped_scope_cancels_children,
            c4_cancel_is_idempotent_first_reason_wins,
            c5_three_outcomes_are_distinct,
            c5_outside_cancel_is_bare_cancelled,
            c5_cancelled_keeps_grace_errors,
            c6_outer_cancel_reaches_grandchildren,
            c6_inner_failure_is_childs_error,
            c7_timeout_cancels_with_deadline_reason,
            c7_past_deadline_and_duration_max,
            c9_cancel_one_child_only,
            c9_handles_report_terminal_states,
            t1_token_wakes_every_waiter_across_threads,
            t1_token_helpers_and_child_direction,
            t2_dropped_child_tokens_free_memory,
            t3_children_read_the_first_reason,
            t3_deadline_reason_reaches_children,
            o1_live_children_gauges,
            p1_identical_transcript,
            p2_nested_scope_detects_runtime,
        }
    };
}

macro_rules! define_all {
    ($($case:ident),* $(,)?) => {
        /// Every case of the suite, in report order.
        pub const ALL: &[Case] = &[$(Case { name: stringify!($case), run: $case }),*];
    };
}

crate::__with_cases!(define_all);
