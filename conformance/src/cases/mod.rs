//! The cases, one module per rule family. Each case is `fn(&dyn Harness)`, panics on failure,
//! and is named after the rule it proves.

mod cancel;
mod child_options;
mod deadline;
mod failure;
mod hardening;
mod policy;
mod results;
mod scope;
#[cfg(feature = "tracing")]
mod spans;
mod time;
mod token;

pub mod anyio;
pub mod contract;
pub mod coverage;
pub mod local;
pub mod trio;

pub use cancel::*;
pub use child_options::*;
pub use deadline::*;
pub use failure::*;
pub use hardening::*;
pub use policy::*;
pub use results::*;
pub use scope::*;
#[cfg(feature = "tracing")]
pub use spans::*;
pub use time::*;
pub use token::*;

pub use anyio::*;
pub use contract::*;
pub use coverage::*;
pub use trio::*;

use crate::Case;

/// Calls `$cb! { case, case, ... }` with every case name: the one list of cases, used both by
/// [`ALL`] and by the [`suite!`](crate::suite) macro. The cases of optional features are
/// appended by [`__with_optional_cases!`](crate::__with_optional_cases), whose definition this
/// crate's features choose (a `cfg` in the list itself would be read in the crate that calls
/// `suite!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __with_cases {
    ($($cb:tt)::+) => {
        $crate::__with_optional_cases! { $($cb)::+;
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
            c3_dropping_a_cancelled_scope_drops_its_shielded_child,
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
            // Ported from AnyIO (anyio.rs) and Trio (trio.rs), the runtime contract
            // (contract.rs), and more angles per rule (coverage.rs).
            s4_spawn_into_a_finished_scope_is_refused,
            s2_every_child_runs_to_completion,
            p2_scope_runs_inside_a_plain_runtime_task,
            s3_a_child_spawns_a_sibling_while_running,
            s4_spawn_after_a_failed_scope_is_refused,
            c3_cancelling_the_owner_task_cancels_its_scope,
            f2_a_body_error_is_the_only_member,
            c1_a_cancelled_child_never_passes_its_next_await,
            f1_a_child_failure_stops_a_sleeping_body,
            f1_a_body_failure_stops_a_sleeping_child,
            c6_a_nested_scope_cancelled_from_another_task,
            c6_outer_cancel_stops_a_nested_scope_body,
            c5_an_owner_cancelled_twice_in_sequence,
            c6_cancel_reaches_a_nested_scope_already_waiting,
            c1_a_scope_under_a_cancelled_token_never_polls_its_body,
            f2_two_child_errors_are_both_collected,
            f2_body_and_child_errors_in_completion_order,
            c5_a_self_cancel_stops_the_body_at_its_next_await,
            c5_a_cancel_without_a_suspension_still_reports_cancelled,
            c6_cancelling_a_nested_scope_leaves_the_outer_alone,
            f1_a_failure_after_a_sibling_blocks_cancels_it,
            c5_an_error_during_teardown_does_not_turn_a_cancel_into_a_failure,
            s4_a_child_spawning_into_a_cancelled_scope_gets_a_closed_handle,
            f6_a_nested_group_holds_only_real_errors,
            c6_outer_cancel_drops_a_nested_scope_body_and_children,
            p2_a_child_sees_its_own_scope_as_ambient,
            c5_a_nested_scope_cancelled_by_its_outer_scope_is_one_cancelled,
            s3_a_sibling_spawned_by_a_child_outlives_its_spawner,
            f2_a_body_error_comes_back_unchanged,
            f2_a_child_error_comes_back_unchanged,
            s2_children_interleave_at_suspension_points,
            f1_a_failure_cancels_a_sibling_that_never_blocks,
            o1_the_live_count_follows_a_handle_cancel,
            o1_a_handle_reports_its_name_and_state,
            t1_cancelled_is_level_triggered,
            c5_a_parent_cancel_keeps_the_errors_of_the_grace,
            c6_cancel_reaches_every_leaf_of_a_tree,
            t3_an_own_reason_survives_a_later_outer_cancel,
            t3_an_outer_reason_reaches_a_nested_scope_as_parent,
            o1_names_reach_handles_errors_and_reasons,
            s6_a_scope_per_item_in_a_loop,
            t1_a_deep_token_chain_cancels_without_overflow,
            t3_an_explicit_reason_carries_its_message,
            t3_a_cancelled_child_reads_the_failer_then_fails_too,
            t3_the_reason_names_the_failer_when_the_failure_is_gated,
            t3_an_explicit_reason_is_not_overwritten_by_the_deadline,
            t3_a_deadline_reason_is_not_overwritten_by_a_cancel,
            p1_runtime_timer_never_fires_early,
            p1_a_sleep_until_a_past_instant_completes_at_once,
            p1_runtime_spawn_runs_a_task_to_completion,
            p1_runtime_spawn_blocking_runs_off_the_async_thread,
            f5_a_panic_resumes_through_block_on,
            c3_runtime_shutdown_drops_every_child,
            c3_no_child_runs_after_runtime_shutdown,
            p1_runtime_spawn_never_polls_inline,
            p1_blocking_jobs_leave_the_async_workers_free,
            c3_a_spawn_during_shutdown_never_runs,
            c3_a_spawn_after_shutdown_is_dropped_unpolled,
            s5_a_spawner_escaped_through_a_child_is_closed,
            s6_ten_thousand_children_in_one_scope,
            s1_the_scope_waits_for_a_slow_destructor,
            f3_a_nested_failure_is_reported_once,
            f4_the_body_value_is_dropped_when_a_child_fails,
            f5_the_first_panic_wins,
            f5_a_panic_after_an_error_still_resumes,
            f5_a_panic_in_a_nested_scope_reaches_the_outer_owner,
            f5_siblings_finish_grace_cleanup_before_the_panic_resumes,
            f6_a_group_is_a_usable_error_value,
            f6_display_lists_every_member_with_its_name,
            f7_a_destructor_panic_after_completion_is_a_panic,
            f7_an_unread_started_value_panicking_on_drop_is_a_panic,
            f7_a_destructor_panic_after_the_owner_dropped_the_scope_is_contained,
            c2_the_scope_returns_when_cleanup_ends_not_at_grace_end,
            c2_no_spawn_is_accepted_during_the_grace,
            c3_dropping_the_scope_drops_grandchildren_promptly,
            c3_a_scope_future_dropped_unpolled_runs_nothing,
            c4_cancelling_a_finished_scope_does_nothing,
            c4_cancelling_a_child_twice_is_the_same_as_once,
            c9_a_sibling_cancels_a_child_through_its_handle,
            c9_a_sibling_awaits_another_childs_value,
            c9_a_cancelled_child_is_not_a_failure_even_under_grace,
            t1_run_until_cancelled_drops_its_future_when_the_token_fires,
            t1_a_token_cancelled_from_a_plain_thread_wakes_async_waiters,
            t1_a_drop_guard_cancels_when_its_child_is_cancelled,
            t1_cancelled_owned_can_be_moved_into_a_child,
            t2_a_cancelled_token_keeps_no_children,
            t3_a_dropped_owner_gives_reason_dropped,
            p2_the_ambient_scope_is_set_only_inside_it,
            c1_a_child_blocked_on_a_timer_is_dropped_without_waiting,
            c5_a_failure_is_not_replaced_by_a_later_cancel,
            // Deadlines, grace and shielding (deadline.rs); limits and policies (policy.rs).
            c7_scope_timeout_elapsed_after_teardown,
            c7_fail_after_never_fires_early,
            c7_fail_after_returns_output_in_time,
            c7_an_output_returned_as_the_deadline_passes_is_the_output,
            c7_a_scope_whose_body_returns_as_its_deadline_passes_gives_its_value,
            c7_move_on_after_gives_none,
            c7_absolute_deadlines,
            c7_deadline_already_past_cancels_before_poll,
            c7_duration_max_means_no_deadline,
            c7_manual_cancel_is_not_elapsed,
            c7_child_failure_beats_elapsed,
            c7_childs_own_timeout_is_ordinary_error,
            c7_inner_deadline_never_extends_outer,
            c7_nested_earliest_deadline_wins,
            c7_outer_deadline_reaches_nested_scope,
            c7_move_on_tears_down_nested_scope_first,
            c7_outer_cancel_is_not_elapsed_for_inner_region,
            c7_sub_millisecond_deadline,
            c7_seeds_nested_deadline_scenario,
            c2_grace_cleanup_can_await_timers,
            c2_spawns_refused_during_grace,
            c2_grace_applies_after_deadline,
            c8_shielded_child_survives_scope_cancel,
            c8_shield_holds_against_deadline_and_failure,
            c8_shielded_value_is_kept,
            c8_shielded_own_deadline_applies,
            c8_shielded_cleanup_spawned_from_destructor,
            c8_nested_scope_in_shield_not_cancelled,
            c8_owner_drop_still_drops_shielded,
            c8_handle_cancel_reaches_shielded_child,
            t3_children_read_deadline_reason,
            t3_explicit_message_first_cause_wins,
            t3_parent_reason_chain,
            f2_nested_cancellation_is_not_a_member,
            c7_elapsed_is_a_distinct_outcome,
            l1_limit_bounds_running_children,
            l1_waiting_children_start_in_spawn_order,
            l1_spawn_wait_applies_backpressure,
            l1_cancelled_spawn_wait_never_strands_a_permit,
            l1_try_spawn_reports_full,
            l1_zero_limit_is_refused,
            l1_queued_children_never_start_after_cancel,
            l1_seeds_bounded_gather,
            l2_supervisor_errors_do_not_cancel_siblings,
            l2_supervisor_returns_every_outcome,
            l2_supervisor_unclaimed_error_goes_to_group,
            l2_supervisor_panic_still_resumes,
            l3_race_first_success_wins,
            l3_race_all_fail_gives_group_of_all,
            l3_race_failures_do_not_cancel,
            l3_seeds_first_success_with_cleanup,
            l4_start_returns_ready_value,
            l4_error_before_ready_is_the_start_error,
            l4_ending_without_ready_is_an_error,
            l4_cancelling_start_cancels_the_child,
            l4_error_after_ready_fails_the_scope,
            b1_blocking_work_is_waited_for,
            b1_blocking_work_watches_the_token,
            b1_blocking_value_and_error,
            b1_blocking_panic_resumes_in_owner,
            l1_a_queued_child_cancelled_as_the_slot_frees_loses_no_permit,
            l4_a_report_after_the_child_failed_is_ignored,
            l4_a_report_after_the_child_ended_is_ignored,
            l4_a_dropped_start_gives_the_early_error_to_the_scope,
            l2_a_dropped_start_under_supervise_cancels_nothing,
            c7_elapsed_with_a_typed_error_passed_on_by_a_nested_scope,
            f3_a_failed_handle_passed_on_with_question_mark_is_not_a_second_member,
            f3_a_typed_error_passed_on_from_a_handle_is_not_a_second_member,
            f3_an_error_from_cleanup_after_a_handed_cancellation_is_collected,
            s4_a_refused_start_ignores_a_report_made_while_its_future_was_made,
            c7_a_nested_cancellation_passed_on_through_fail_after_is_elapsed,
            f3_a_blocking_child_passing_on_a_handed_cancellation_is_not_a_second_member,
            c9_the_result_of_a_running_child_says_running,
            f5_a_handle_of_a_panicked_child_says_panicked,
            l1_a_waiting_spawn_wait_is_refused_when_the_scope_cancels,
            c9_a_blocking_child_is_cancelled_through_its_handle,
            c9_a_cancelled_handle_reports_after_the_childs_scopes_drained,
            o3_the_count_drops_before_the_handle_reports,
            t2_a_deep_token_chain_held_by_its_leaf_drops_in_constant_stack,
            l3_racing_no_futures_is_refused_at_the_call,
            c2_a_child_admitted_within_the_limit_gets_the_grace,
            l1_try_spawn_without_a_limit_spawns_until_the_scope_closes,
            f3_an_error_after_a_region_that_ended_on_its_own_while_cancelling_is_collected,
            l1_a_slot_granted_after_the_scope_began_cancelling_never_starts_its_child,
            f5_a_later_panic_payload_that_panics_when_dropped_is_contained,
            f7_a_blocking_child_cancelled_before_it_ran_panicking_on_drop_is_a_panic,
            s4_a_spawn_after_the_parent_token_fired_is_refused,
            f3_a_supervised_error_left_in_a_handle_dropped_later_goes_to_the_group,
            t2_a_finished_blocking_childs_token_leaves_the_tree,
            c8_a_shielded_childs_ambient_token_is_its_own,
            s4_a_shielded_try_spawn_into_a_finished_scope_is_closed,
            l1_a_shielded_spawn_wait_spawns_at_once_while_the_slots_are_taken,
            f3_a_blocking_childs_own_error_during_cancellation_is_collected,
            // Portable time (time.rs).
            p4_sleep_waits_at_least_its_duration,
            p4_sleep_until_a_past_instant_completes_at_once,
            p4_duration_max_is_forever_never_a_panic,
            p4_a_child_sleeping_forever_is_cancelled_promptly,
            p4_time_runs_on_the_enclosing_scopes_runtime,
            p4_now_is_the_runtimes_clock,
            p4_interval_ticks_every_period,
            p4_interval_skips_missed_ticks,
            p4_a_dropped_tick_loses_no_tick,
            p4_yield_now_lets_a_sibling_run,
            s4_start_into_a_finished_scope_is_refused,
            l4_a_report_sent_before_the_child_future_exists,
            t3_a_self_cancelled_body_sees_its_reason_as_it_is_dropped,
            c8_shielded_cleanup_runs_after_cancel,
            c6_a_nested_scope_opened_in_a_cancelled_scope_reports_the_outer_cancel,
            c4_an_outer_cancel_during_a_nested_teardown_leaves_the_nested_reason,
            c8_code_after_a_self_cancelled_scope_in_a_shield_runs_despite_an_outer_cancel,
            l4_start_gives_the_ready_value_and_a_handle_to_the_result,
            c9_a_started_child_cancelled_through_its_handle,
            t3_a_cancelled_outcome_carries_the_reason_and_its_message,
            c8_a_shielded_child_of_a_pending_start_survives_the_outer_cancel,
            c9_a_child_cancelled_right_after_spawn_reports_cancelled,
            o1_a_name_given_at_spawn_or_start_reaches_the_handle,
            // Results with any error type (results.rs).
            s1_all_gives_every_value_in_spawn_order,
            f2_all_of_a_failed_scope_gives_the_group_with_each_error_once,
            c5_all_of_a_cancelled_scope_is_cancelled_not_a_panic,
            c7_all_past_its_timeout_is_elapsed,
            l1_all_keeps_the_limit,
            l2_all_under_supervise_runs_every_child_and_gives_every_error,
            l3_all_under_race_is_refused_at_the_call,
            f3_a_typed_error_passed_on_with_join_is_not_a_second_member,
            l2_join_gives_a_supervised_childs_own_typed_error,
            c9_join_of_a_child_cancelled_through_its_handle_is_a_typed_error,
            // Per-child options that compose (child_options.rs).
            c8_a_named_shielded_child_survives_cancel_and_reports_its_name,
            l1_a_named_try_spawn_on_a_full_limit_gives_the_future_back,
            l1_a_named_spawn_wait_waits_for_a_free_slot,
            l4_a_named_shielded_start_survives_the_scope_cancel,
            b1_a_named_blocking_child_reports_its_name,
            c8_a_shielded_blocking_child_is_not_cancelled_with_its_scope,
            c9_a_shielded_blocking_child_is_cancelled_through_its_handle,
            c3_dropping_the_scope_fires_a_shielded_blocking_childs_token,
            c8_a_shielded_try_spawn_is_accepted_while_cancelling,
        }
    };
}

/// Calls `$cb!` with the given cases, then those of this crate's `tracing` feature (O2, its
/// spans: `spans.rs`).
#[cfg(feature = "tracing")]
#[doc(hidden)]
#[macro_export]
macro_rules! __with_optional_cases {
    ($($cb:tt)::+; $($case:ident,)*) => {
        $($cb)::+! { $($case,)* o2_spans_form_the_task_tree_with_outcomes, }
    };
}

/// Calls `$cb!` with the given cases: this crate's `tracing` feature is off.
#[cfg(not(feature = "tracing"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __with_optional_cases {
    ($($cb:tt)::+; $($case:ident,)*) => {
        $($cb)::+! { $($case,)* }
    };
}

macro_rules! define_all {
    ($($case:ident),* $(,)?) => {
        /// Every case of the suite, in report order.
        pub const ALL: &[Case] = &[$(Case { name: stringify!($case), run: $case }),*];
    };
}

crate::__with_cases!(define_all);
