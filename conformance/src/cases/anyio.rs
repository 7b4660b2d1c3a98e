//! Cases ported from AnyIO's task-group and cancel-scope tests.
//!
//! # Ported from AnyIO
//!
//! Source: `tests/test_taskgroups.py` of [agronholm/anyio] at commit
//! `660a06d548ca72759e9d89ed722dd1ad5227afe4`: 134 test functions, 148 test items with the
//! parametrized ones (not counting the `anyio_backend` parametrization; the
//! `TestTaskStatusTyping` class holds static typing checks only and has no tests). Each test
//! function is listed once (its parametrized items in one row): **ported** (same behaviour,
//! same assertions, translated to Rust), **adapted** (the behaviour exists here but the rules
//! differ, as explained; the case tests this crate's rule), **covered elsewhere** (by the cases
//! named, mostly the `c7_`, `c8_` and `l4_` cases of `deadline.rs` and `policy.rs`), or **n/a**
//! (cannot be expressed in Rust, or tests Python or asyncio machinery, with why). Since the
//! previously listed revision, `test_task_group_in_generator` was removed and
//! `test_exception_group_filtering` was renamed `test_nested_task_group_filtering` (the name now
//! belongs to a new test).
//!
//! Translation: a task group is a scope, `start_soon` (and `create_task`) is `spawn`,
//! `tg.cancel_scope.cancel()` and `tg.cancel()` are `Scope::cancel`, a free `CancelScope` is a
//! nested scope (or its token), a shielded `CancelScope` is a shielded child,
//! `wait_all_tasks_blocked` is a [`Gate`] opened by the child once it is blocked, `sleep(n)` in a
//! child that must be cancelled is a 30 s sleep or `forever()` (a broken backend makes the case
//! hang instead of passing by luck), Python's `finally:` is a destructor ([`OnDrop`]), and
//! `cancelled_caught` is which scope's outcome names the cancel.
//!
//! | AnyIO test | status | case |
//! |---|---|---|
//! | `test_already_closed` | ported (a closed handle instead of `RuntimeError`) | [`s4_spawn_into_a_finished_scope_is_refused`] |
//! | `test_success` | ported | [`s2_every_child_runs_to_completion`] |
//! | `test_run_natively[asyncio]`, `test_run_natively[trio]` | adapted: "natively" = driven by a plain task of the runtime, not by the harness | [`p2_scope_runs_inside_a_plain_runtime_task`] |
//! | `test_start_soon_while_running` | ported | [`s3_a_child_spawns_a_sibling_while_running`] |
//! | `test_start_soon_after_error` | ported (a closed handle instead of `RuntimeError`) | [`s4_spawn_after_a_failed_scope_is_refused`] |
//! | `test_start_already_closed` | ported (the start call says "closed" instead of `RuntimeError`) | [`s4_start_into_a_finished_scope_is_refused`] |
//! | `test_start_no_value` | covered elsewhere (a `()` report is the same call) | [`l4_start_returns_ready_value`](super::l4_start_returns_ready_value) |
//! | `test_start_called_twice` | n/a: impossible by type: `Ready::send` consumes the reporter (L4) | — |
//! | `test_start_sync_wrapper` | ported (the report is sent by the closure that makes the future) | [`l4_a_report_sent_before_the_child_future_exists`] |
//! | `test_start_sync_wrapper_called_twice` | n/a: impossible by type (as `test_start_called_twice`) | — |
//! | `test_no_called_started_twice` | covered elsewhere | [`l4_cancelling_start_cancels_the_child`](super::l4_cancelling_start_cancels_the_child) |
//! | `test_start_with_value` | covered elsewhere | [`l4_start_returns_ready_value`](super::l4_start_returns_ready_value) |
//! | `test_start_crash_before_started_call` | covered elsewhere | [`l4_error_before_ready_is_the_start_error`](super::l4_error_before_ready_is_the_start_error) |
//! | `test_start_crash_after_started_call` | covered elsewhere | [`l4_error_after_ready_fails_the_scope`](super::l4_error_after_ready_fails_the_scope) |
//! | `test_start_no_started_call` | covered elsewhere | [`l4_ending_without_ready_is_an_error`](super::l4_ending_without_ready_is_an_error) |
//! | `test_start_cancelled` | adapted: a start into a cancelled scope is refused unpolled (S4) instead of running to its first checkpoint | [`s4_spawn_into_cancelling_scope_is_refused`](super::s4_spawn_into_cancelling_scope_is_refused) |
//! | `test_start_native_host_cancelled` | adapted: asyncio-only; "cancel the host task" = cancel the child that owns the scope | [`c3_cancelling_the_owner_task_cancels_its_scope`] |
//! | `test_start_native_child_cancelled` | n/a: cancels a raw asyncio task behind AnyIO's back; Rust has no way to cancel a future other than dropping it, which is C3 | — |
//! | `test_propagate_native_cancellation_from_taskgroup` | adapted: as `test_start_native_host_cancelled` | [`c3_cancelling_the_owner_task_cancels_its_scope`] |
//! | `test_cancel_with_nested_task_groups` | n/a: asyncio backend regression: counts re-deliveries of `_deliver_cancellation`; a cancel here is one token fire | — |
//! | `test_no_spin_on_done_task_in_cancel_scope` | n/a: asyncio backend regression: a cancel scope entered and never exited; scopes are lexical (S5) | — |
//! | `test_start_exception_delivery[False]`, `test_start_exception_delivery[True]` | n/a: passing a sync function where a coroutine function is expected is a type error in Rust | — |
//! | `test_start_cancel_after_error` | covered elsewhere (a sibling's failure cancels a pending start, whose child never reports) | [`l4_cancelling_start_cancels_the_child`](super::l4_cancelling_start_cancels_the_child) |
//! | `test_host_exception` | ported | [`f2_a_body_error_is_the_only_member`] |
//! | `test_level_cancellation` | adapted: a child spawned before the cancel may or may not have been polled (multi-threaded runtimes), but never passes its next await | [`c1_a_cancelled_child_never_passes_its_next_await`] |
//! | `test_cancel` | adapted: `tg.cancel()` is `Scope::cancel`; as `test_level_cancellation` | [`c1_a_cancelled_child_never_passes_its_next_await`] |
//! | `test_cancel_with_reason` | ported (the cancelled code reads the reason from its token as it is dropped, which is Python's `except`) | [`t3_a_self_cancelled_body_sees_its_reason_as_it_is_dropped`] |
//! | `test_failing_child_task_cancels_host` | ported | [`f1_a_child_failure_stops_a_sleeping_body`] |
//! | `test_failing_host_task_cancels_children` | ported | [`f1_a_body_failure_stops_a_sleeping_child`] |
//! | `test_cancel_scope_in_another_task` | ported (the free cancel scope is a nested scope, cancelled through its token) | [`c6_a_nested_scope_cancelled_from_another_task`] |
//! | `test_cancel_propagation` | adapted: with no grace period the token fires just before children are dropped, so code after the nested scope may run, but only seeing "cancelled by parent" | [`c6_outer_cancel_stops_a_nested_scope_body`] |
//! | `test_cancel_twice` | ported | [`c5_an_owner_cancelled_twice_in_sequence`] |
//! | `test_cancel_exiting_task_group` | ported | [`c6_cancel_reaches_a_nested_scope_already_waiting`] |
//! | `test_cancel_before_entering_scope` | ported | [`c1_a_scope_under_a_cancelled_token_never_polls_its_body`] |
//! | `test_exception_group_children` | ported (with a grace period, so both errors are collected deterministically) | [`f2_two_child_errors_are_both_collected`] |
//! | `test_exception_group_host` | ported (completion order is defined here: the body's error first) | [`f2_body_and_child_errors_in_completion_order`] |
//! | `test_escaping_cancelled_exception` | ported | [`c5_a_self_cancel_stops_the_body_at_its_next_await`] |
//! | `test_cancel_scope_cleared` | covered elsewhere | [`c7_move_on_after_gives_none`](super::c7_move_on_after_gives_none) |
//! | `test_fail_after[instant]`, `test_fail_after[delayed]` | covered elsewhere (the cancelled code reads `Deadline`, T3) | [`c7_deadline_already_past_cancels_before_poll`](super::c7_deadline_already_past_cancels_before_poll), [`c7_scope_timeout_elapsed_after_teardown`](super::c7_scope_timeout_elapsed_after_teardown), [`t3_children_read_deadline_reason`](super::t3_children_read_deadline_reason) |
//! | `test_fail_after_no_timeout` | covered elsewhere (no deadline is `Duration::MAX`) | [`c7_duration_max_means_no_deadline`](super::c7_duration_max_means_no_deadline) |
//! | `test_fail_after_after_cancellation` | covered elsewhere (a cancelled scope leaves nothing behind for a later deadline) | `c7_` cases (deadline.rs) |
//! | `test_fail_after_cancelled_before_deadline` | covered elsewhere | [`c7_manual_cancel_is_not_elapsed`](super::c7_manual_cancel_is_not_elapsed) |
//! | `test_fail_after_scope_cancelled_before_timeout` | covered elsewhere (xfail upstream; here a manual cancel is never a timeout, C7) | [`c7_manual_cancel_is_not_elapsed`](super::c7_manual_cancel_is_not_elapsed) |
//! | `test_fail_after_reason` | adapted: `Elapsed` carries no message of its own (T3's deadline reason has none); the zero deadline part is covered | [`c7_deadline_already_past_cancels_before_poll`](super::c7_deadline_already_past_cancels_before_poll) |
//! | `test_move_on_after[instant]`, `test_move_on_after[delayed]` | covered elsewhere | [`c7_move_on_after_gives_none`](super::c7_move_on_after_gives_none), [`c7_deadline_already_past_cancels_before_poll`](super::c7_deadline_already_past_cancels_before_poll) |
//! | `test_move_on_after_no_timeout` | covered elsewhere | [`c7_duration_max_means_no_deadline`](super::c7_duration_max_means_no_deadline) |
//! | `test_nested_move_on_after` | covered elsewhere | [`c7_nested_earliest_deadline_wins`](super::c7_nested_earliest_deadline_wins), [`c7_inner_deadline_never_extends_outer`](super::c7_inner_deadline_never_extends_outer) |
//! | `test_fail_at[instant]`, `test_fail_at[delayed]` | covered elsewhere | [`c7_absolute_deadlines`](super::c7_absolute_deadlines), [`t3_children_read_deadline_reason`](super::t3_children_read_deadline_reason) |
//! | `test_fail_at_no_timeout` | covered elsewhere (no deadline is `Duration::MAX`; there is no `None` instant) | [`c7_duration_max_means_no_deadline`](super::c7_duration_max_means_no_deadline) |
//! | `test_fail_at_reason` | adapted: as `test_fail_after_reason` | [`c7_deadline_already_past_cancels_before_poll`](super::c7_deadline_already_past_cancels_before_poll) |
//! | `test_move_on_at[instant]`, `test_move_on_at[delayed]` | covered elsewhere | [`c7_absolute_deadlines`](super::c7_absolute_deadlines) |
//! | `test_move_on_at_no_timeout` | covered elsewhere | [`c7_duration_max_means_no_deadline`](super::c7_duration_max_means_no_deadline) |
//! | `test_shielding` | covered elsewhere | [`c8_shielded_child_survives_scope_cancel`](super::c8_shielded_child_survives_scope_cancel) |
//! | `test_cancel_from_shielded_scope` | covered elsewhere (inside the shield the ambient token is not cancelled, the scope's is) | [`c8_shielded_cleanup_runs_after_cancel`], [`c8_shielded_child_survives_scope_cancel`](super::c8_shielded_child_survives_scope_cancel) |
//! | `test_cancel_shielded_scope` | covered elsewhere (a shield does not protect from its own cancel) | [`c8_handle_cancel_reaches_shielded_child`](super::c8_handle_cancel_reaches_shielded_child) |
//! | `test_shielded_cleanup_after_cancel` | ported (the `finally:` is the body's destructor, the shielded region a shielded child it spawns) | [`c8_shielded_cleanup_runs_after_cancel`] |
//! | `test_cleanup_after_native_cancel` | n/a: asyncio's native `Task.cancel()` | — |
//! | `test_cancelled_not_caught` | adapted: a scope whose own `cancel()` was called reports cancelled even if nothing awaited after it (Python leaves `cancelled_caught` false); the body's value is dropped | [`c5_a_cancel_without_a_suspension_still_reports_cancelled`] |
//! | `test_cancelled_scope_based_checkpoint` | ported (`cancelled_caught` = which scope the outcome names: the nested one reports its parent's cancel, the outer one its own) | [`c6_a_nested_scope_opened_in_a_cancelled_scope_reports_the_outer_cancel`] |
//! | `test_cancelled_raises_beyond_origin_unshielded` | adapted: the nested scope cancelled itself first, so it reports its own reason (C4: the first cause stands) where AnyIO hands the cancellation to the outer scope; the outer body never passes its next await | [`c4_an_outer_cancel_during_a_nested_teardown_leaves_the_nested_reason`] |
//! | `test_cancelled_raises_beyond_origin_shielded` | adapted: shielding is per child (the shielded region is a shielded child); the outer scope reports "cancelled" since its `cancel()` was called (C5) | [`c8_code_after_a_self_cancelled_scope_in_a_shield_runs_despite_an_outer_cancel`] |
//! | `test_empty_taskgroup_contains_yield_point` | adapted: no rule makes an empty scope yield to the runtime (S6: it completes at once and costs almost nothing) | [`s6_empty_scope_completes_at_once`](super::s6_empty_scope_completes_at_once) |
//! | `test_cancel_host_asyncgen` | n/a: asyncio async-generator hosting | — |
//! | `test_shielding_immediate_scope_cancelled` | covered elsewhere | [`c8_handle_cancel_reaches_shielded_child`](super::c8_handle_cancel_reaches_shielded_child) |
//! | `test_shielding_mutate` | covered elsewhere (a shield is fixed when spawned) | [`c8_shielded_child_survives_scope_cancel`](super::c8_shielded_child_survives_scope_cancel) |
//! | `test_cancel_scope_in_child_task` | ported | [`c6_cancelling_a_nested_scope_leaves_the_outer_alone`] |
//! | `test_exception_cancels_siblings` | ported | [`f1_a_failure_after_a_sibling_blocks_cancels_it`] |
//! | `test_cancel_cascade` | adapted: an error raised while the scope is torn down rides along in `Cancelled { errors }`; it never turns the cancel into a failure | [`c5_an_error_during_teardown_does_not_turn_a_cancel_into_a_failure`] |
//! | `test_cancelled_parent` | adapted: a spawn after the cancel is refused (S4) instead of starting a task that is cancelled at once | [`s4_a_child_spawning_into_a_cancelled_scope_gets_a_closed_handle`] |
//! | `test_shielded_deadline` | covered elsewhere | [`c8_shield_holds_against_deadline_and_failure`](super::c8_shield_holds_against_deadline_and_failure), [`c8_shielded_own_deadline_applies`](super::c8_shielded_own_deadline_applies) |
//! | `test_deadline_reached_on_start` | covered elsewhere | [`c7_deadline_already_past_cancels_before_poll`](super::c7_deadline_already_past_cancels_before_poll) |
//! | `test_deadline_moved` | n/a: a deadline cannot be moved once the scope started | — |
//! | `test_timeout_error_with_multiple_cancellations` | covered elsewhere | [`c7_scope_timeout_elapsed_after_teardown`](super::c7_scope_timeout_elapsed_after_teardown) |
//! | `test_nested_fail_after` | covered elsewhere | [`c7_outer_cancel_is_not_elapsed_for_inner_region`](super::c7_outer_cancel_is_not_elapsed_for_inner_region) |
//! | `test_nested_shield` | covered elsewhere | [`c8_shielded_own_deadline_applies`](super::c8_shielded_own_deadline_applies) |
//! | `test_triple_nested_shield_checkpoint_in_outer` | covered elsewhere | [`c8_nested_scope_in_shield_not_cancelled`](super::c8_nested_scope_in_shield_not_cancelled) |
//! | `test_triple_nested_shield_checkpoint_in_middle` | covered elsewhere | [`c8_nested_scope_in_shield_not_cancelled`](super::c8_nested_scope_in_shield_not_cancelled) |
//! | `test_nested_task_group_filtering` | ported (the nested member is a cancelled scope carrying only the real error) | [`f6_a_nested_group_holds_only_real_errors`] |
//! | `test_exception_group_filtering` | covered elsewhere (a Rust body never receives its own scope's cancellation as a value, since it is dropped at its next await, so it cannot bundle one into its error; that a cancellation is never a member is F2) | [`f2_nested_cancellation_is_not_a_member`](super::f2_nested_cancellation_is_not_a_member) |
//! | `test_nested_exception_group_filtering` | covered elsewhere (as `test_exception_group_filtering`) | [`f2_nested_cancellation_is_not_a_member`](super::f2_nested_cancellation_is_not_a_member) |
//! | `test_cancel_propagation_with_inner_spawn` | adapted: as `test_cancel_propagation` | [`c6_outer_cancel_drops_a_nested_scope_body_and_children`] |
//! | `test_escaping_cancelled_error_from_cancelled_task` | covered elsewhere (`move_on_after` then a cancel from outside) | [`c7_outer_cancel_is_not_elapsed_for_inner_region`](super::c7_outer_cancel_is_not_elapsed_for_inner_region) |
//! | `test_cancel_generator_based_task` | n/a: generator-based coroutines (Python < 3.11) | — |
//! | `test_schedule_old_style_coroutine_func` | n/a: generator-based coroutines | — |
//! | `test_cancel_native_future_tasks` | n/a: asyncio native futures | — |
//! | `test_cancel_native_future_tasks_cancel_scope` | n/a: asyncio native futures | — |
//! | `test_cancel_completed_task` | n/a: asyncio's exception handler | — |
//! | `test_task_in_sync_spawn_callback` | adapted: task identity becomes the ambient scope a child runs in | [`p2_a_child_sees_its_own_scope_as_ambient`] |
//! | `test_shielded_cancel_sleep_time` | covered elsewhere | [`c8_shielded_child_survives_scope_cancel`](super::c8_shielded_child_survives_scope_cancel) |
//! | `test_cancelscope_wrong_exit_order` | n/a: scopes are lexical (an async closure); misnesting cannot be written (S5) | — |
//! | `test_cancelscope_exit_before_enter` | n/a: same | — |
//! | `test_cancelscope_exit_in_wrong_task` | n/a: same | — |
//! | `test_unhandled_exception_group` | n/a: `KeyboardInterrupt` from an asyncio callback | — |
//! | `test_single_cancellation_exc` | ported | [`c5_a_nested_scope_cancelled_by_its_outer_scope_is_one_cancelled`] |
//! | `test_start_soon_parent_id` | adapted: a sibling spawned by a child belongs to the scope, not to that child | [`s3_a_sibling_spawned_by_a_child_outlives_its_spawner`] |
//! | `test_start_parent_id` | covered elsewhere (a started child is a child of the scope, running on after ready) | [`l4_start_returns_ready_value`](super::l4_start_returns_ready_value) |
//! | `TestUncancel::test_uncancel_after_native_cancel` | n/a: asyncio's `Task.cancelling()` / `uncancel()` counter | — |
//! | `TestUncancel::test_uncancel_after_scope_cancel` | n/a: asyncio's `Task.cancelling()` / `uncancel()` counter | — |
//! | `TestUncancel::test_uncancel_after_scope_and_native_cancel` | n/a: asyncio's `Task.cancelling()` / `uncancel()` counter | — |
//! | `TestUncancel::test_cancel_message_replaced` | n/a: asyncio `CancelledError` messages | — |
//! | `TestUncancel::test_cancel_counter_nested_scopes` | n/a: asyncio's `Task.cancelling()` / `uncancel()` counter | — |
//! | `TestUncancel::test_uncancel_after_taskgroup_cancelled` | n/a: asyncio's `Task.cancelling()` / `uncancel()` counter | — |
//! | `TestUncancel::test_uncancel_after_group_aexit_native_cancel` | n/a: asyncio's `Task.cancelling()` / `uncancel()` counter | — |
//! | `TestUncancel::test_uncancel_after_child_task_failed` | n/a: asyncio's `Task.cancelling()` / `uncancel()` counter (its group-of-one assertion is F2's `f2_single_error_is_a_group_of_one`) | — |
//! | `TestUncancel::test_uncancel_cancelled_scope_based_checkpoint` | n/a: asyncio's `Task.cancelling()` / `uncancel()` counter | — |
//! | `test_taskgroup_reentry` | n/a: `Builder::run` consumes the builder: a scope cannot be entered twice | — |
//! | `test_cancel_before_entering_task_group` | adapted: an empty scope opened under a cancelled token reports cancelled (C5) where AnyIO's exits quietly | [`c1_a_scope_under_a_cancelled_token_never_polls_its_body`] |
//! | `test_reraise_cancelled_in_excgroup` | n/a: Python's `catch()` re-raising a cancellation | — |
//! | `test_cancel_child_task_when_host_is_shielded` | covered elsewhere (the body waits on a shielded child while the outer cancel reaches the other child) | [`c8_shielded_child_survives_scope_cancel`](super::c8_shielded_child_survives_scope_cancel), [`c6_outer_cancel_reaches_grandchildren`](super::c6_outer_cancel_reaches_grandchildren) |
//! | `test_start_cancels_parent_scope` | adapted: a start call dropped by a cancelled region cancels only its own child (L4), never the scope; the child is not run to its first checkpoint | [`l4_cancelling_start_cancels_the_child`](super::l4_cancelling_start_cancels_the_child) |
//! | `test_start_return_handle_success` | ported (`start` always gives the handle with the value) | [`l4_start_gives_the_ready_value_and_a_handle_to_the_result`] |
//! | `test_start_return_handle_cancel` | ported | [`c9_a_started_child_cancelled_through_its_handle`] |
//! | `TestRefcycles::test_exception_refcycles_direct` | n/a: garbage-collector reference cycles; an error value here has one owner and is freed when dropped | — |
//! | `TestRefcycles::test_exception_refcycles_errors` | n/a: garbage-collector reference cycles; an error value here has one owner and is freed when dropped | — |
//! | `TestRefcycles::test_exception_refcycles_parent_task` | n/a: garbage-collector reference cycles; an error value here has one owner and is freed when dropped | — |
//! | `TestRefcycles::test_exception_refcycles_propagate_cancellation_error` | n/a: garbage-collector reference cycles; an error value here has one owner and is freed when dropped | — |
//! | `TestRefcycles::test_exception_refcycles_base_error` | n/a: garbage-collector reference cycles; an error value here has one owner and is freed when dropped | — |
//! | `test_eager_task_factory[False]`, `test_eager_task_factory[True]` | n/a: asyncio's eager task factory | — |
//! | `test_patched_asyncio_task` | n/a: monkeypatched `asyncio.Task` | — |
//! | `test_exception_groups_suppresses_exc_context` | adapted: Python's `__context__`; the analog is the `source()` chain, which never repeats the group | [`f6_a_group_is_a_usable_error_value`](super::f6_a_group_is_a_usable_error_value) |
//! | `test_cancel_reason` | adapted: the outcome's text names the reason, not the task (a scope's own name is not part of its outcome) | [`t3_a_cancelled_outcome_carries_the_reason_and_its_message`] |
//! | `test_cancel_shielding_start` | adapted: shielding is per child: the shielded region is a shielded child spawned by the starting child | [`c8_a_shielded_child_of_a_pending_start_survives_the_outer_cancel`] |
//! | `test_asyncio_call_graph[anyio]`, `test_asyncio_call_graph[asyncio]` | n/a: asyncio call-graph introspection (Python 3.14) | — |
//! | `TestCreateTask::test_coro_attr` | n/a: the future is moved into the spawn; a handle has no reference to it | — |
//! | `TestCreateTask::test_non_coro` | n/a: a type error in Rust | — |
//! | `TestCreateTask::test_return_value` | covered elsewhere (`state()` is `Running` before, the value after; the `repr` text is Python's) | [`o1_a_handle_reports_its_name_and_state`](super::o1_a_handle_reports_its_name_and_state) |
//! | `TestCreateTask::test_exception` | adapted: the error goes to the scope's group, not to the handle (F3: never reported twice); the handle says failed | [`f3_handle_of_failed_child_has_no_error_copy`](super::f3_handle_of_failed_child_has_no_error_copy), [`c9_handles_report_terminal_states`](super::c9_handles_report_terminal_states) |
//! | `TestCreateTask::test_base_exception` | adapted: `SystemExit` is a panic here: the handle says panicked and the panic resumes in the owner (F5) | [`c9_handles_report_terminal_states`](super::c9_handles_report_terminal_states), [`f5_panic_resumes_in_owner_after_siblings_dropped`](super::f5_panic_resumes_in_owner_after_siblings_dropped) |
//! | `TestCreateTask::test_cancel[True]`, `TestCreateTask::test_cancel[False]` | adapted: a child cancelled before its first poll is dropped unpolled (AnyIO runs it to its first checkpoint), and the state stays `Running` until it is dropped (no "cancelling" state) | [`c9_a_child_cancelled_right_after_spawn_reports_cancelled`] |
//! | `TestCreateTask::test_custom_context` | n/a: `contextvars` | — |
//! | `TestCreateTask::test_wait` | adapted: as `TestCreateTask::test_exception` | [`f3_handle_of_failed_child_has_no_error_copy`](super::f3_handle_of_failed_child_has_no_error_copy) |
//! | `test_task_name_default[create_task]`, `[start_soon]`, `[start]` | adapted: a child has no default name (Python uses the function's qualified name) | [`o1_a_name_given_at_spawn_or_start_reaches_the_handle`] |
//! | `test_task_name_custom_name[create_task]`, `[start_soon]`, `[start]` | adapted: the name reaches the handle; a child has no call to read its own name | [`o1_a_name_given_at_spawn_or_start_reaches_the_handle`] |
//! | `test_task_from_asyncgen_asend[False]`, `test_task_from_asyncgen_asend[True]` | n/a: async-generator methods as tasks | — |
//!
//! Totals (134 tests): 25 ported, 29 adapted, 39 covered elsewhere, 41 n/a.
//!
//! [agronholm/anyio]: https://github.com/agronholm/anyio

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskscope_core::{BoxError, CancelReason, CancelToken, ChildState, JoinError, ScopeError, Task};

use crate::Harness;
use crate::support::*;

/// A sleep long enough that a case only passes if it is cancelled (a broken backend hangs).
const LONG: Duration = Duration::from_secs(30);

/// S4 (AnyIO `test_already_closed`): a spawn into a scope that has finished is refused: the
/// future is dropped at once, unpolled, and the handle says "closed".
pub fn s4_spawn_into_a_finished_scope_is_refused(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let polled = Arc::new(AtomicBool::new(false));
        let sp = builder(h).run(async |s| Ok::<_, BoxError>(s.spawner())).await.unwrap();
        let (g, p) = (t.guard(), polled.clone());
        let handle = sp.spawn(async move {
            let _g = g;
            p.store(true, Ordering::SeqCst);
            Err::<(), _>(err("fail"))
        });
        assert_eq!(t.live(), 0, "the refused future was not dropped at once");
        let got = handle.await;
        assert!(matches!(got, Err(JoinError::Closed { .. })), "{got:?}");
        assert!(!polled.load(Ordering::SeqCst), "the refused future was polled");
    }));
}

/// S2 (AnyIO `test_success`): every child runs to completion before the scope returns.
pub fn s2_every_child_runs_to_completion(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let results = Arc::new(Mutex::new(BTreeSet::new()));
        builder(h)
            .run(async |s| {
                for v in ["a", "b"] {
                    let r = results.clone();
                    s.spawn(async move {
                        r.lock().unwrap().insert(v);
                        ok()
                    });
                }
                Ok::<_, BoxError>(())
            })
            .await
            .unwrap();
        assert_eq!(*results.lock().unwrap(), BTreeSet::from(["a", "b"]), "what was recorded in `results`");
    }));
}

/// P2 (AnyIO `test_run_natively`, adapted): a scope driven by a plain task of the runtime (not
/// by the harness's `block_on`, not inside another scope) works the same.
pub fn p2_scope_runs_inside_a_plain_runtime_task(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let out = Arc::new(Mutex::new(None));
        let done = CancelToken::new();
        let (o, guard, rt2) = (out.clone(), done.clone().drop_guard(), rt.clone());
        rt.spawn(Task::new(async move {
            let _done = guard; // fires when the task ends, even by a panic
            let r = Builder::typed()
                .runtime(rt2)
                .run(async |s| {
                    let a = s.spawn(async { Ok::<_, BoxError>(20) });
                    let b = s.spawn(async {
                        yield_now().await;
                        Ok::<_, BoxError>(22)
                    });
                    Ok::<_, BoxError>(a.await? + b.await?)
                })
                .await;
            *o.lock().unwrap() = Some(r.map_err(|e| e.to_string()));
        }));
        done.cancelled().await;
        let got = out.lock().unwrap().take().expect("the runtime task ended without a result (did it panic?)");
        assert_eq!(got, Ok(42), "value of `got`");
    }));
}

/// S3 (AnyIO `test_start_soon_while_running`): a running child spawns a sibling through a
/// spawner and waits for it.
pub fn s3_a_child_spawns_a_sibling_while_running(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                let sp = s.spawner();
                let child = s.spawn(async move {
                    let sibling = sp.spawn(async {
                        yield_now().await;
                        Ok::<_, BoxError>(5)
                    });
                    Ok::<_, BoxError>(sibling.await? + 1)
                });
                Ok(child.await?)
            })
            .await;
        assert_eq!(r.unwrap(), 6, "value the scope returned");
    }));
}

/// S4 (AnyIO `test_start_soon_after_error`): once a scope has failed, a spawn through a
/// spawner that escaped it is refused.
pub fn s4_spawn_after_a_failed_scope_is_refused(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let mut sp = None;
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                sp = Some(s.spawner());
                Err(err("division by zero"))
            })
            .await;
        assert_eq!(
            messages(&expect_failed(r)),
            ["division by zero"],
            "messages of the failed scope's group members, in completion order"
        );
        let sp = sp.unwrap();
        assert!(sp.is_closed(), "`sp` is not closed, expected closed");
        let polled = Arc::new(AtomicBool::new(false));
        let p = polled.clone();
        let handle = sp.spawn(async move {
            p.store(true, Ordering::SeqCst);
            ok()
        });
        assert_eq!(handle.state(), ChildState::Closed, "state reported by handle `handle`");
        assert!(!polled.load(Ordering::SeqCst), "`polled` was true, expected false");
    }));
}

/// C3 (AnyIO `test_propagate_native_cancellation_from_taskgroup` and
/// `test_start_native_host_cancelled`, adapted): cancelling the task that owns a scope (here a
/// child cancelled through its handle) drops the scope future, which cancels the scope's own
/// children; they are dropped before the outer scope returns.
pub fn c3_cancelling_the_owner_task_cancels_its_scope(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let started = Gate::new();
        let mut owner_state = None;
        let r = builder(h)
            .run(async |s| {
                let (t2, st) = (t.clone(), started.clone());
                let owner = s.spawn(async move {
                    Builder::typed()
                        .run(async |inner| {
                            inner.spawn(guarded_forever(t2.guard()));
                            st.open();
                            forever().await;
                            Ok::<_, BoxError>(())
                        })
                        .await?;
                    ok()
                });
                started.wait().await;
                owner.cancel();
                while !owner.is_finished() {
                    yield_now().await;
                }
                owner_state = Some(owner.state());
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.is_ok(), "cancelling one child failed the scope: {r:?}");
        assert_eq!(owner_state, Some(ChildState::Cancelled), "value of `owner_state`");
        assert_eq!(t.live(), 0, "the cancelled owner's scope left a child alive");
        assert_eq!(t.dropped(), 1, "child futures dropped so far");
    }));
}

/// F2 (AnyIO `test_host_exception`): the body's error cancels a sleeping child, and the group
/// holds that one error only.
pub fn f2_a_body_error_is_the_only_member(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let start = Instant::now();
        let result = Arc::new(AtomicBool::new(false));
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (res, rt) = (result.clone(), rt.clone());
                s.spawn(async move {
                    sleep(&rt, LONG).await;
                    res.store(true, Ordering::SeqCst);
                    ok()
                });
                Err(err("dummy error"))
            })
            .await;
        let g = expect_failed(r);
        assert_eq!(messages(&g), ["dummy error"], "messages of the members of group `g`, in completion order");
        assert_eq!(g.members()[0].name(), None, "the body's error has no child name");
        assert!(!result.load(Ordering::SeqCst), "`result` was true, expected false");
        assert_prompt(start, "stopping the sleeping child");
    }));
}

/// C1 (AnyIO `test_level_cancellation`, adapted): a child spawned just before the scope is
/// cancelled may have started (on a multi-threaded runtime), but it never gets past its next
/// suspension point, even when what it waits for happens right after the cancel.
pub fn c1_a_cancelled_child_never_passes_its_next_await(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let marker = Arc::new(AtomicUsize::new(0));
        let wake = Gate::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (m, w) = (marker.clone(), wake.clone());
                s.spawn(async move {
                    m.store(1, Ordering::SeqCst);
                    w.wait().await;
                    m.store(2, Ordering::SeqCst);
                    ok()
                });
                s.cancel();
                wake.open(); // would let the child through, were it not cancelled
                Ok(())
            })
            .await;
        expect_cancelled(r);
        assert!(marker.load(Ordering::SeqCst) <= 1, "the child ran past its await after the cancel");
    }));
}

/// F1 (AnyIO `test_failing_child_task_cancels_host`): a child's failure stops the body in the
/// middle of a (long) sleep.
pub fn f1_a_child_failure_stops_a_sleeping_body(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let sleep_completed = AtomicBool::new(false);
        let body_blocked = Gate::new();
        let start = Instant::now();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let b = body_blocked.clone();
                s.spawn(async move {
                    b.wait().await;
                    Err::<(), _>(err("foo"))
                });
                body_blocked.open();
                sleep(&rt, LONG).await;
                sleep_completed.store(true, Ordering::SeqCst);
                Ok(())
            })
            .await;
        assert_eq!(
            messages(&expect_failed(r)),
            ["foo"],
            "messages of the failed scope's group members, in completion order"
        );
        assert!(!sleep_completed.load(Ordering::SeqCst), "`sleep_completed` was true, expected false");
        assert_prompt(start, "stopping the sleeping body");
    }));
}

/// F1 (AnyIO `test_failing_host_task_cancels_children`): the body's failure stops a child in
/// the middle of a (long) sleep.
pub fn f1_a_body_failure_stops_a_sleeping_child(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let start = Instant::now();
        let sleep_completed = Arc::new(AtomicBool::new(false));
        let child_blocked = Gate::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (done, b, rt) = (sleep_completed.clone(), child_blocked.clone(), rt.clone());
                s.spawn(async move {
                    b.open();
                    sleep(&rt, LONG).await;
                    done.store(true, Ordering::SeqCst);
                    ok()
                });
                child_blocked.wait().await;
                Err(err("foo"))
            })
            .await;
        assert_eq!(
            messages(&expect_failed(r)),
            ["foo"],
            "messages of the failed scope's group members, in completion order"
        );
        assert!(!sleep_completed.load(Ordering::SeqCst), "`sleep_completed` was true, expected false");
        assert_prompt(start, "stopping the sleeping child");
    }));
}

/// C6 (AnyIO `test_cancel_scope_in_another_task`): a nested scope opened by a child can be
/// cancelled from another task (through its token); the child sees "cancelled" and the outer
/// scope carries on.
pub fn c6_a_nested_scope_cancelled_from_another_task(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let start = Instant::now();
        let published: Arc<Mutex<Option<CancelToken>>> = Arc::default();
        let ready = Gate::new();
        let result = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(None));
        let r = builder(h)
            .run(async |s| {
                let (p, rd, res, seen2, rt) =
                    (published.clone(), ready.clone(), result.clone(), seen.clone(), rt.clone());
                s.spawn(async move {
                    let r = Builder::typed()
                        .run(async |local| {
                            *p.lock().unwrap() = Some(local.token().clone());
                            rd.open();
                            sleep(&rt, LONG).await;
                            res.store(true, Ordering::SeqCst);
                            Ok::<_, BoxError>(())
                        })
                        .await;
                    *seen2.lock().unwrap() = Some(r.map_err(|e| e.reason().cloned()));
                    ok()
                });
                ready.wait().await;
                let local = published.lock().unwrap().clone().unwrap();
                local.cancel_with(CancelReason::Explicit("from another task".into()));
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.is_ok(), "{r:?}");
        assert!(!result.load(Ordering::SeqCst), "`result` was true, expected false");
        assert_prompt(start, "stopping the nested scope");
        let seen = seen.lock().unwrap().take().expect("the child never saw its nested scope end");
        assert_eq!(seen, Err(Some(CancelReason::Explicit("from another task".into()))), "what the child saw");
    }));
}

/// C6 (AnyIO `test_cancel_propagation`, adapted): cancelling the outer scope stops the body of
/// a nested scope opened by a child. With no grace period the token fires just before children
/// are dropped, so the child may see its nested scope return, but only as "cancelled by the
/// parent"; the nested body never completes.
pub fn c6_outer_cancel_stops_a_nested_scope_body(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let nested_running = Gate::new();
        let body_completed = Arc::new(AtomicBool::new(false));
        let nested_outcome = Arc::new(Mutex::new(None));
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (gate, done, outcome, rt) =
                    (nested_running.clone(), body_completed.clone(), nested_outcome.clone(), rt.clone());
                s.spawn(async move {
                    let r = Builder::typed()
                        .run(async |_inner| {
                            gate.open();
                            sleep(&rt, LONG).await;
                            done.store(true, Ordering::SeqCst);
                            Ok::<_, BoxError>(())
                        })
                        .await;
                    *outcome.lock().unwrap() = Some(r.map_err(|e| e.reason().map(|r| r.root().clone())));
                    ok()
                });
                nested_running.wait().await;
                s.cancel_with(CancelReason::Explicit("outer".into()));
                Ok(())
            })
            .await;
        expect_cancelled(r);
        assert!(!body_completed.load(Ordering::SeqCst), "the nested body ran on after the cancel");
        if let Some(seen) = nested_outcome.lock().unwrap().take() {
            assert_eq!(seen, Err(Some(CancelReason::Explicit("outer".into()))), "what the child saw");
        }
    }));
}

/// C5 (AnyIO `test_cancel_twice`): the same owner can have two scopes cancelled in a row, each
/// stopping its body in the middle of a sleep.
pub fn c5_an_owner_cancelled_twice_in_sequence(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        for round in 0..2 {
            let reached = AtomicBool::new(false);
            let blocked = Gate::new();
            let start = Instant::now();
            let r: Result<(), _> = builder(h)
                .run(async |s| {
                    let (sp, b) = (s.spawner(), blocked.clone());
                    s.spawn(async move {
                        b.wait().await;
                        sp.cancel();
                        ok()
                    });
                    blocked.open();
                    sleep(&rt, LONG).await;
                    reached.store(true, Ordering::SeqCst);
                    Ok(())
                })
                .await;
            let (reason, errors) = expect_cancelled(r);
            assert!(matches!(reason, CancelReason::Explicit(_)), "round {round}: {reason:?}");
            assert!(errors.is_none(), "errors collected (`errors`): expected none, saw {errors:?}");
            assert!(!reached.load(Ordering::SeqCst), "round {round}: execution reached past the sleep");
            assert_prompt(start, "stopping the sleeping body");
        }
    }));
}

/// C6 (AnyIO `test_cancel_exiting_task_group`): a nested scope whose body has returned and
/// which is waiting for its children is still reached by the outer cancel: its child is
/// dropped (its `finally` runs) before the outer scope returns.
pub fn c6_cancel_reaches_a_nested_scope_already_waiting(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let cancel_received = Arc::new(AtomicBool::new(false));
        let waiting = Gate::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (cr, w, rt) = (cancel_received.clone(), waiting.clone(), rt.clone());
                s.spawn(async move {
                    Builder::typed()
                        .run(async |tg2| {
                            tg2.spawn(async move {
                                let _finally = OnDrop(move || cr.store(true, Ordering::SeqCst));
                                w.open();
                                sleep(&rt, LONG).await;
                                ok()
                            });
                            Ok::<_, BoxError>(()) // the nested scope now waits for its child
                        })
                        .await?;
                    ok()
                });
                waiting.wait().await;
                s.cancel();
                Ok(())
            })
            .await;
        expect_cancelled(r);
        assert!(cancel_received.load(Ordering::SeqCst), "`cancel_received` was false, expected true");
    }));
}

/// C1 (AnyIO `test_cancel_before_entering_scope`, `test_cancel_before_entering_task_group`): a
/// scope opened under a token that is already cancelled never polls its body and reports
/// "cancelled by the parent".
pub fn c1_a_scope_under_a_cancelled_token_never_polls_its_body(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let token = CancelToken::new();
        token.cancel_with(CancelReason::Explicit("before".into()));
        let polled = AtomicBool::new(false);
        let r: Result<(), _> = builder(h)
            .parent(&token)
            .run(async |_s| {
                polled.store(true, Ordering::SeqCst);
                Ok::<_, BoxError>(())
            })
            .await;
        let (reason, errors) = expect_cancelled(r);
        assert!(matches!(reason, CancelReason::Parent(_)), "{reason:?}");
        assert_eq!(reason.root(), &CancelReason::Explicit("before".into()), "root cause of the cancel reason `reason`");
        assert!(errors.is_none(), "errors collected (`errors`): expected none, saw {errors:?}");
        assert!(!polled.load(Ordering::SeqCst), "the body was polled under a cancelled token");
    }));
}

/// F2 (AnyIO `test_exception_group_children`, Trio `test_two_child_crashes`): two children
/// that fail both end up in the group (with a grace period nothing is dropped before it fails,
/// so the count is exact).
pub fn f2_two_child_errors_are_both_collected(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let all_spawned = Gate::new();
                for name in ["task1", "task2"] {
                    let g = all_spawned.clone();
                    s.spawn_named(name, async move {
                        g.wait().await;
                        Err::<(), _>(err(name))
                    });
                }
                all_spawned.open();
                Ok(())
            })
            .await;
        let g = expect_failed(r);
        let mut msgs = messages(&g);
        msgs.sort();
        assert_eq!(msgs, ["task1", "task2"], "member messages, in completion order");
        assert!(g.to_string().starts_with("2 errors in scope"), "{g}");
    }));
}

/// F2 (AnyIO `test_exception_group_host`, Trio `test_main_and_task_both_crash`): the body's
/// error and a child's error raised while being cancelled are both collected, the body's (the
/// cause) first.
pub fn f2_body_and_child_errors_in_completion_order(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let token = s.token().clone();
                s.spawn_named("child", async move {
                    token.cancelled().await;
                    Err::<(), _>(err("child"))
                });
                Err(err("host"))
            })
            .await;
        let g = expect_failed(r);
        assert_eq!(messages(&g), ["host", "child"], "messages of the members of group `g`, in completion order");
        assert_eq!(g.members()[0].name(), None, "child name of member 0 of group `g`");
        assert_eq!(g.members()[1].name(), Some("child"), "child name of member 1 of group `g`");
    }));
}

/// C5 (AnyIO `test_escaping_cancelled_exception`): a body that cancels its own scope is stopped
/// at its next await, and the owner gets one bare "cancelled".
pub fn c5_a_self_cancel_stops_the_body_at_its_next_await(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let reached = AtomicBool::new(false);
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                s.cancel();
                yield_now().await;
                reached.store(true, Ordering::SeqCst);
                Ok::<_, BoxError>(())
            })
            .await;
        let (reason, errors) = expect_cancelled(r);
        assert!(
            matches!(reason, CancelReason::Explicit(_)),
            "expected `reason` to match `CancelReason::Explicit(_)`, saw {reason:?}"
        );
        assert!(errors.is_none(), "errors collected (`errors`): expected none, saw {errors:?}");
        assert!(!reached.load(Ordering::SeqCst), "`reached` was true, expected false");
    }));
}

/// C5 (AnyIO `test_cancelled_not_caught`, adapted): a scope whose own `cancel()` was called
/// reports "cancelled" even when the body returns without awaiting anything after it; the
/// body's value is dropped, not returned.
pub fn c5_a_cancel_without_a_suspension_still_reports_cancelled(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r = builder(h)
            .run(async |s| {
                s.cancel();
                Ok::<_, BoxError>(t.guard())
            })
            .await;
        let (reason, _) = expect_cancelled(r);
        assert!(
            matches!(reason, CancelReason::Explicit(_)),
            "expected `reason` to match `CancelReason::Explicit(_)`, saw {reason:?}"
        );
        assert_eq!(t.live(), 0, "the body's value was kept");
    }));
}

/// C6 (AnyIO `test_cancel_scope_in_child_task`): cancelling a nested scope opened by a child
/// does not cancel the outer scope; its body carries on to the end.
pub fn c6_cancelling_a_nested_scope_leaves_the_outer_alone(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let published: Arc<Mutex<Option<CancelToken>>> = Arc::default();
        let ready = Gate::new();
        let host_done = AtomicBool::new(false);
        let mut outer_cancelled = None;
        let r = builder(h)
            .run(async |s| {
                let (p, rd) = (published.clone(), ready.clone());
                s.spawn(async move {
                    let _ = Builder::typed()
                        .run(async |child_scope| {
                            *p.lock().unwrap() = Some(child_scope.token().clone());
                            rd.open();
                            forever().await;
                            Ok::<_, BoxError>(())
                        })
                        .await;
                    ok()
                });
                ready.wait().await;
                published.lock().unwrap().clone().unwrap().cancel();
                sleep(&rt, Duration::from_millis(1)).await;
                host_done.store(true, Ordering::SeqCst);
                outer_cancelled = Some(s.token().is_cancelled());
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.is_ok(), "{r:?}");
        assert!(host_done.load(Ordering::SeqCst), "`host_done` was false, expected true");
        assert_eq!(outer_cancelled, Some(false), "the outer scope's token fired");
    }));
}

/// F1 (AnyIO `test_exception_cancels_siblings`): a child spawned after a sibling is blocked
/// fails, and the blocked sibling is cancelled in the middle of its sleep.
pub fn f1_a_failure_after_a_sibling_blocks_cancels_it(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let start = Instant::now();
        let sleep_completed = Arc::new(AtomicBool::new(false));
        let blocked = Gate::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (done, b, rt) = (sleep_completed.clone(), blocked.clone(), rt.clone());
                s.spawn(async move {
                    b.open();
                    sleep(&rt, LONG).await;
                    done.store(true, Ordering::SeqCst);
                    ok()
                });
                blocked.wait().await;
                s.spawn(async { Err::<(), _>(err("foo")) });
                Ok(())
            })
            .await;
        assert_eq!(
            messages(&expect_failed(r)),
            ["foo"],
            "messages of the failed scope's group members, in completion order"
        );
        assert!(!sleep_completed.load(Ordering::SeqCst), "`sleep_completed` was true, expected false");
        assert_prompt(start, "stopping the sleeping sibling");
    }));
}

/// C5 (AnyIO `test_cancel_cascade`, adapted): a child that raises right after its nested scope
/// was cancelled does not turn the outer cancel into a failure: the owner gets "cancelled"
/// (the error, if the child got to raise it before being dropped, rides along in `errors`).
pub fn c5_an_error_during_teardown_does_not_turn_a_cancel_into_a_failure(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let nested_running = Gate::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (t2, gate) = (t.clone(), nested_running.clone());
                s.spawn(async move {
                    let _ = Builder::typed()
                        .run(async |tg2| {
                            tg2.spawn(guarded_forever(t2.guard()));
                            gate.open();
                            Ok::<_, BoxError>(())
                        })
                        .await;
                    Err::<(), _>(err("foo"))
                });
                nested_running.wait().await;
                s.cancel();
                Ok(())
            })
            .await;
        let (reason, errors) = expect_cancelled(r);
        assert!(matches!(reason, CancelReason::Explicit(_)), "{reason:?}");
        if let Some(g) = errors {
            assert_eq!(messages(&g), ["foo"], "messages of the members of group `g`, in completion order");
        }
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
    }));
}

/// S4 (AnyIO `test_cancelled_parent`, adapted): a child that spawns a sibling after the scope
/// was cancelled gets a closed handle; the sibling never runs (so its error never happens).
pub fn s4_a_child_spawning_into_a_cancelled_scope_gets_a_closed_handle(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let state = Arc::new(Mutex::new(None));
        let polled = Arc::new(AtomicBool::new(false));
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let (sp, token, st, p) = (s.spawner(), s.token().clone(), state.clone(), polled.clone());
                s.spawn(async move {
                    token.cancelled().await;
                    let child = sp.spawn(async move {
                        p.store(true, Ordering::SeqCst);
                        Err::<(), _>(err("foo"))
                    });
                    *st.lock().unwrap() = Some(child.state());
                    ok()
                });
                s.cancel();
                Ok(())
            })
            .await;
        let (_, errors) = expect_cancelled(r);
        assert!(errors.is_none(), "{errors:?}");
        assert_eq!(*state.lock().unwrap(), Some(ChildState::Closed), "what was recorded in `state`");
        assert!(!polled.load(Ordering::SeqCst), "`polled` was true, expected false");
    }));
}

/// F6 (AnyIO `test_exception_group_filtering`): an error of the outer scope and an error of a
/// scope nested in its body come back as a group whose second member is the nested scope's
/// outcome, holding only the real error (no cancellation as a member).
pub fn f6_a_nested_group_holds_only_real_errors(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let nested_started = Gate::new();
                let gate = nested_started.clone();
                s.spawn_named("parent", async move {
                    gate.wait().await;
                    Err::<(), _>(err("parent task failed"))
                });
                Builder::typed()
                    .grace(LONG)
                    .run(async |tg2| {
                        let token = tg2.token().clone();
                        let gate = nested_started.clone();
                        tg2.spawn_named("child", async move {
                            gate.open();
                            token.cancelled().await;
                            Err::<(), _>(err("child task failed"))
                        });
                        tg2.token().cancelled().await;
                        Ok::<_, BoxError>(())
                    })
                    .await?;
                Ok(())
            })
            .await;
        let g = expect_failed(r);
        assert_eq!(g.len(), 2, "{g}");
        assert_eq!(g.cause().to_string(), "parent task failed", "displayed cause of group `g`");
        let nested = g.members()[1].error().downcast_ref::<ScopeError<BoxError>>().expect("the nested scope's outcome");
        let inner = nested.errors().expect("the nested scope lost its child's error");
        assert_eq!(messages(inner), ["child task failed"], "value of `messages(inner)`");
        assert_eq!(inner.members()[0].name(), Some("child"), "child name of member 0 of group `inner`");
    }));
}

/// C6 (AnyIO `test_cancel_propagation_with_inner_spawn`, adapted): cancelling the outer scope
/// drops both the body and the children of a scope nested in a child, before the outer scope
/// returns. If the child sees its nested scope return at all, it sees "cancelled by parent".
pub fn c6_outer_cancel_drops_a_nested_scope_body_and_children(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let nested_running = Gate::new();
        let returned = Arc::new(Mutex::new(None));
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (t2, gate, ret) = (t.clone(), nested_running.clone(), returned.clone());
                s.spawn(async move {
                    let r = Builder::typed()
                        .run(async |tg2| {
                            tg2.spawn(guarded_forever(t2.guard()));
                            let _body = t2.guard();
                            gate.open();
                            forever().await;
                            Ok::<_, BoxError>(())
                        })
                        .await;
                    *ret.lock().unwrap() =
                        Some(matches!(r, Err(ScopeError::Cancelled { reason: CancelReason::Parent(_), .. })));
                    ok()
                });
                nested_running.wait().await;
                s.cancel();
                Ok(())
            })
            .await;
        expect_cancelled(r);
        assert_eq!(t.live(), 0, "part of the nested scope outlived the outer one");
        assert_eq!(t.dropped(), 2, "child futures dropped so far");
        if let Some(was_parent_cancel) = returned.lock().unwrap().take() {
            assert!(was_parent_cancel, "the nested scope returned something other than a parent cancel");
        }
    }));
}

/// P2 (AnyIO `test_task_in_sync_spawn_callback`, adapted): a child runs with its own scope as
/// the ambient one: the token `current_token()` gives it is its scope's, not the enclosing
/// scope's, so cancelling it stops only the nested scope.
pub fn p2_a_child_sees_its_own_scope_as_ambient(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let mut inner_result = None;
        let mut outer_cancelled = None;
        let r = builder(h)
            .run(async |s| {
                let r = Builder::typed()
                    .run(async |inner| {
                        inner.spawn(async {
                            let ambient = taskscope_core::current_token().expect("no ambient token in a child");
                            ambient.cancel_with(CancelReason::Explicit("via the ambient token".into()));
                            ok()
                        });
                        forever().await;
                        Ok::<_, BoxError>(())
                    })
                    .await;
                inner_result = Some(r.map_err(|e| e.reason().cloned()));
                outer_cancelled = Some(s.token().is_cancelled());
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(
            inner_result,
            Some(Err(Some(CancelReason::Explicit("via the ambient token".into())))),
            "value of `inner_result`"
        );
        assert_eq!(outer_cancelled, Some(false), "value of `outer_cancelled`");
        assert!(taskscope_core::current_token().is_none(), "an ambient token leaked out of the scope");
    }));
}

/// C5 (AnyIO `test_single_cancellation_exc`): a nested scope cancelled by its outer scope (no
/// failures anywhere) gives its owner one bare "cancelled" naming the parent, not a group.
pub fn c5_a_nested_scope_cancelled_by_its_outer_scope_is_one_cancelled(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let mut nested = None;
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let outer = s.spawner();
                let r = Builder::typed()
                    .run(async |tg| {
                        let blocked = Gate::new();
                        let b = blocked.clone();
                        tg.spawn(async move {
                            b.open();
                            forever().await;
                            ok()
                        });
                        blocked.wait().await;
                        outer.cancel_with(CancelReason::Explicit("outer".into()));
                        forever().await;
                        Ok::<_, BoxError>(())
                    })
                    .await;
                nested = Some(r);
                Ok(())
            })
            .await;
        let (reason, errors) = expect_cancelled(r);
        assert_eq!(reason, CancelReason::Explicit("outer".into()), "cancel reason the child read");
        assert!(errors.is_none(), "errors collected (`errors`): expected none, saw {errors:?}");
        let (inner_reason, inner_errors) = expect_cancelled(nested.expect("the nested scope never returned"));
        assert!(matches!(inner_reason, CancelReason::Parent(_)), "{inner_reason:?}");
        assert_eq!(
            inner_reason.root(),
            &CancelReason::Explicit("outer".into()),
            "root cause of the cancel reason `inner_reason`"
        );
        assert!(inner_errors.is_none(), "errors collected (`inner_errors`): expected none, saw {inner_errors:?}");
    }));
}

/// S3 (AnyIO `test_start_soon_parent_id`, adapted): a sibling spawned by a child belongs to the
/// scope, not to the child: it keeps running after the child that spawned it has finished, and
/// the scope waits for it.
pub fn s3_a_sibling_spawned_by_a_child_outlives_its_spawner(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let release = Gate::new();
        let r = builder(h)
            .run(async |s| {
                let (sp, rel) = (s.spawner(), release.clone());
                let starter = s.spawn(async move {
                    let subtask = sp.spawn(async move {
                        rel.wait().await;
                        Ok::<_, BoxError>(7)
                    });
                    Ok::<_, BoxError>(subtask)
                });
                let subtask = starter.await?;
                assert!(!subtask.is_finished(), "the subtask ended with its spawner");
                release.open();
                Ok::<_, BoxError>(subtask)
            })
            .await;
        let subtask = r.unwrap();
        assert_eq!(subtask.result().unwrap(), 7, "value of child `subtask`");
    }));
}

/// S4, L4 (AnyIO `test_start_already_closed`): a `start` into a scope that has finished is
/// refused: the start call says "closed" and the child's future is never polled.
pub fn s4_start_into_a_finished_scope_is_refused(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let polled = Arc::new(AtomicBool::new(false));
        let sp = builder(h).run(async |s| Ok::<_, BoxError>(s.spawner())).await.unwrap();
        let p = polled.clone();
        let got = sp
            .start(|ready| async move {
                p.store(true, Ordering::SeqCst);
                ready.send(());
                ok()
            })
            .await;
        assert!(matches!(got, Err(JoinError::Closed { .. })), "a start into a finished scope gave {got:?}");
        assert!(!polled.load(Ordering::SeqCst), "the refused child was polled");
    }));
}

/// L4 (AnyIO `test_start_sync_wrapper`): the child may report ready while its future is still
/// being made (before it is ever polled): the start call gets that value, and the handle the
/// future's own result.
pub fn l4_a_report_sent_before_the_child_future_exists(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                let (value, handle) = s
                    .start(|ready| {
                        ready.send(5);
                        async { Ok::<_, BoxError>(8) }
                    })
                    .await?;
                assert_eq!(value, 5, "the start call lost the value reported before the future existed");
                Ok::<_, BoxError>(handle.await?)
            })
            .await;
        assert_eq!(r.unwrap(), 8, "value the scope returned");
    }));
}

/// T3 (AnyIO `test_cancel_with_reason`): a body that cancels its own scope with a reason is
/// stopped at its next await, and what it sees as it is dropped (its destructor, Python's
/// `except` around the checkpoint) is that reason, message included.
pub fn t3_a_self_cancelled_body_sees_its_reason_as_it_is_dropped(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let seen = Arc::new(Mutex::new(None));
        let reached = AtomicBool::new(false);
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (token, seen2) = (s.token().clone(), seen.clone());
                let _except = OnDrop(move || *seen2.lock().unwrap() = Some(token.reason().cloned()));
                s.cancel_with(CancelReason::Explicit("test reason".into()));
                yield_now().await;
                reached.store(true, Ordering::SeqCst);
                Ok::<_, BoxError>(())
            })
            .await;
        let (reason, errors) = expect_cancelled(r);
        assert_eq!(reason, CancelReason::Explicit("test reason".into()), "cancel reason the child read");
        assert!(errors.is_none(), "a self-cancel collected errors: {errors:?}");
        assert!(!reached.load(Ordering::SeqCst), "the body passed its next await after cancelling its scope");
        let seen = seen.lock().unwrap().take().expect("the body was never dropped");
        let seen = seen.expect("the token had no reason when the body was dropped");
        assert_eq!(seen, CancelReason::Explicit("test reason".into()), "what the child saw");
        assert!(seen.to_string().contains("test reason"), "the reason's text lost the message: {seen}");
    }));
}

/// C8 (AnyIO `test_shielded_cleanup_after_cancel`): cleanup that runs after a cancel (the
/// body's destructor, Python's `finally:`) sees the cancellation, and a shielded child it spawns
/// does not: its ambient token and a scope it opens are not cancelled, even across an await,
/// while the scope's own token stays cancelled; the scope waits for it.
pub fn c8_shielded_cleanup_runs_after_cancel(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let log = Log::new();
        let accepted = Arc::new(Mutex::new(None));
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (sp, token, log2, acc) = (s.spawner(), s.token().clone(), log.clone(), accepted.clone());
                let _finally = OnDrop(move || {
                    log2.push(format!("finally: scope cancelled = {}", token.is_cancelled()));
                    let (l, t) = (log2.clone(), token.clone());
                    let cleanup = sp.spawn_shielded(async move {
                        let ambient = taskscope_core::current_token().expect("no ambient token in a shielded child");
                        l.push(format!("shielded: cancelled = {}", ambient.is_cancelled()));
                        let nested =
                            Builder::typed().run(async |inner| Ok::<_, BoxError>(inner.token().is_cancelled())).await;
                        l.push(format!("shielded nested scope: {:?}", nested.map_err(|e| e.to_string())));
                        yield_now().await;
                        l.push(format!("shielded after an await: cancelled = {}", ambient.is_cancelled()));
                        l.push(format!("shielded: scope cancelled = {}", t.is_cancelled()));
                        ok()
                    });
                    *acc.lock().unwrap() = Some(cleanup.state());
                });
                s.cancel();
                yield_now().await;
                log.push("the body passed its next await");
                Ok(())
            })
            .await;
        let (reason, errors) = expect_cancelled(r);
        assert!(matches!(reason, CancelReason::Explicit(_)), "{reason:?}");
        assert!(errors.is_none(), "{errors:?}");
        assert_ne!(*accepted.lock().unwrap(), Some(ChildState::Closed), "the shielded cleanup spawn was refused");
        assert_eq!(
            log.events(),
            [
                "finally: scope cancelled = true",
                "shielded: cancelled = false",
                "shielded nested scope: Ok(false)",
                "shielded after an await: cancelled = false",
                "shielded: scope cancelled = true",
            ],
            "events in `log`, in order"
        );
    }));
}

/// C6, C4 (AnyIO `test_cancelled_scope_based_checkpoint`): a nested scope opened by a body
/// whose scope is already cancelled is cancelled by its parent from the start: it reports the
/// parent's cancel (not its own later `cancel()`, the first cause stands), and the body passing
/// that on with `?` leaves the outer scope "cancelled" by its own reason, not failed (F2).
pub fn c6_a_nested_scope_opened_in_a_cancelled_scope_reports_the_outer_cancel(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let mut inner_reason = None;
        let reached = AtomicBool::new(false);
        let r: Result<(), _> = builder(h)
            .run(async |outer| {
                outer.cancel_with(CancelReason::Explicit("outer".into()));
                let r = Builder::typed()
                    .run(async |inner| {
                        inner.cancel_with(CancelReason::Explicit("inner".into()));
                        forever().await;
                        Ok::<_, BoxError>(())
                    })
                    .await;
                inner_reason = Some(r.as_ref().err().map(|e| e.reason().cloned()));
                r?;
                reached.store(true, Ordering::SeqCst);
                Ok(())
            })
            .await;
        let (reason, errors) = expect_cancelled(r);
        assert_eq!(reason, CancelReason::Explicit("outer".into()), "cancel reason the child read");
        assert!(errors.is_none(), "the nested cancellation became a member: {errors:?}");
        assert!(!reached.load(Ordering::SeqCst), "the nested scope under a cancelled scope succeeded");
        let inner = inner_reason.expect("the nested scope never returned").expect("the nested scope succeeded");
        let inner = inner.expect("the nested scope's outcome has no reason");
        assert!(
            matches!(inner, CancelReason::Parent(_)),
            "the nested scope reports {inner:?}, not its parent's cancel"
        );
        assert_eq!(inner.root(), &CancelReason::Explicit("outer".into()), "root cause of the cancel reason `inner`");
    }));
}

/// C4, C1 (AnyIO `test_cancelled_raises_beyond_origin_unshielded`, adapted): a nested scope
/// that cancelled itself, whose body's destructor cancels the outer scope, reports its own
/// reason (the first cause stands; AnyIO hands the cancellation to the outer scope instead), and
/// the outer body is stopped at its next await after the nested scope returns.
pub fn c4_an_outer_cancel_during_a_nested_teardown_leaves_the_nested_reason(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let mut inner_outcome = None;
        let after = AtomicBool::new(false);
        let r: Result<(), _> = builder(h)
            .run(async |outer| {
                let outer_token = outer.token().clone();
                let r = Builder::typed()
                    .run(async |inner| {
                        inner.cancel_with(CancelReason::Explicit("inner".into()));
                        let t = outer_token.clone();
                        let _finally = OnDrop(move || {
                            t.cancel_with(CancelReason::Explicit("outer".into()));
                        });
                        yield_now().await;
                        Ok::<_, BoxError>(())
                    })
                    .await;
                inner_outcome = Some(r.map_err(|e| e.reason().cloned()));
                yield_now().await;
                after.store(true, Ordering::SeqCst);
                Ok::<_, BoxError>(())
            })
            .await;
        let (reason, errors) = expect_cancelled(r);
        assert_eq!(reason, CancelReason::Explicit("outer".into()), "cancel reason the child read");
        assert!(errors.is_none(), "{errors:?}");
        assert!(!after.load(Ordering::SeqCst), "the outer body passed an await after its scope was cancelled");
        assert_eq!(inner_outcome, Some(Err(Some(CancelReason::Explicit("inner".into())))), "value of `inner_outcome`");
    }));
}

/// C8, C4 (AnyIO `test_cancelled_raises_beyond_origin_shielded`, adapted: shielding is per
/// child): in a shielded child, a nested scope that cancelled itself, and whose body's
/// destructor cancels the outer scope, reports its own reason; the code after it in the shielded
/// child runs on (even past an await); the outer scope reports its cancel (C5: its `cancel()`
/// was called, where AnyIO says "not caught").
pub fn c8_code_after_a_self_cancelled_scope_in_a_shield_runs_despite_an_outer_cancel(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let inner_outcome = Arc::new(Mutex::new(None));
        let between = Arc::new(AtomicBool::new(false));
        let r: Result<(), _> = builder(h)
            .run(async |outer| {
                let (outer_token, io, b) = (outer.token().clone(), inner_outcome.clone(), between.clone());
                outer.spawn_shielded(async move {
                    let r = Builder::typed()
                        .run(async |inner| {
                            inner.cancel_with(CancelReason::Explicit("inner".into()));
                            let t = outer_token.clone();
                            let _finally = OnDrop(move || {
                                t.cancel_with(CancelReason::Explicit("outer".into()));
                            });
                            yield_now().await;
                            Ok::<_, BoxError>(())
                        })
                        .await;
                    *io.lock().unwrap() = Some(r.map_err(|e| e.reason().cloned()));
                    yield_now().await;
                    b.store(true, Ordering::SeqCst);
                    ok()
                });
                forever().await;
                Ok(())
            })
            .await;
        let (reason, errors) = expect_cancelled(r);
        assert_eq!(reason, CancelReason::Explicit("outer".into()), "cancel reason the child read");
        assert!(errors.is_none(), "{errors:?}");
        assert!(between.load(Ordering::SeqCst), "the shielded child did not run on after its nested scope");
        assert_eq!(
            *inner_outcome.lock().unwrap(),
            Some(Err(Some(CancelReason::Explicit("inner".into())))),
            "what was recorded in `inner_outcome`"
        );
    }));
}

/// L4 (AnyIO `test_start_return_handle_success`): `start` gives the reported value and a
/// handle to the child's result, which comes after a further suspension.
pub fn l4_start_gives_the_ready_value_and_a_handle_to_the_result(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                let (x, y) = (4, 5);
                let (value, handle) = s
                    .start(move |ready| async move {
                        ready.send(3);
                        yield_now().await;
                        Ok::<_, BoxError>(x + y)
                    })
                    .await?;
                assert_eq!(value, 3, "the start call's value");
                Ok::<_, BoxError>(handle.await?)
            })
            .await;
        assert_eq!(r.unwrap(), 9, "value the scope returned");
    }));
}

/// C9, L4 (AnyIO `test_start_return_handle_cancel`): a started child cancelled through the
/// handle `start` gave is dropped before its next await completes, reports "cancelled", and
/// does not fail the scope; the value it reported is still the start call's.
pub fn c9_a_started_child_cancelled_through_its_handle(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let reached = Arc::new(AtomicBool::new(false));
        let r = builder(h)
            .run(async |s| {
                let (g, rch) = (t.guard(), reached.clone());
                let (value, mut handle) = s
                    .start(move |ready| async move {
                        let _g = g;
                        ready.send(3);
                        forever().await;
                        rch.store(true, Ordering::SeqCst);
                        ok()
                    })
                    .await?;
                handle.cancel();
                let got = (&mut handle).await;
                Ok::<_, BoxError>((value, matches!(got, Err(JoinError::Cancelled { .. })), handle.state()))
            })
            .await;
        let (value, cancelled, state) = r.unwrap();
        assert_eq!(value, 3, "value of `value`");
        assert!(cancelled, "awaiting the cancelled handle did not say cancelled");
        assert_eq!(state, ChildState::Cancelled, "value of `state`");
        assert_eq!(t.live(), 0, "the cancelled child's future was not dropped");
        assert!(!reached.load(Ordering::SeqCst), "the cancelled child passed its await");
    }));
}

/// T3 (AnyIO `test_cancel_reason`, adapted: the outcome names the reason, not the task): a
/// nested scope cancelled with a reason gives its owner a "cancelled" outcome with that reason,
/// whose text holds the message; the outer scope carries on.
pub fn t3_a_cancelled_outcome_carries_the_reason_and_its_message(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let mut nested = None;
        let r = builder(h)
            .run(async |_s| {
                let r = Builder::typed()
                    .run(async |scope| {
                        scope.cancel_with(CancelReason::Explicit("test reason".into()));
                        yield_now().await;
                        Ok::<_, BoxError>(())
                    })
                    .await;
                nested = Some(r);
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.is_ok(), "the outer scope: {r:?}");
        let e = nested.expect("the nested scope never returned").expect_err("the cancelled scope succeeded");
        assert!(e.is_cancelled(), "{e:?}");
        assert_eq!(e.reason(), Some(&CancelReason::Explicit("test reason".into())), "value of `e.reason()`");
        let text = e.to_string();
        assert!(text.contains("test reason"), "the outcome's text lost the reason: {text}");
    }));
}

/// C8, L4 (AnyIO `test_cancel_shielding_start`, adapted: shielding is per child): a child
/// being started (its start call spawned as a sibling) spawns a shielded child that waits for
/// an event; the outer scope is cancelled while it waits: the shielded child is not cancelled
/// and completes once the event is set, the starting child is stopped, and the scope waits for
/// the shielded one.
pub fn c8_a_shielded_child_of_a_pending_start_survives_the_outer_cancel(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let waiting = Gate::new();
        let resume = Gate::new();
        let log = Log::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (sp, w, rs, l) = (s.spawner(), waiting.clone(), resume.clone(), log.clone());
                s.spawn(async move {
                    let sp2 = sp.clone();
                    let started = sp.start(move |_ready: taskscope_core::Ready<()>| async move {
                        let l2 = l.clone();
                        let shielded = sp2.spawn_shielded(async move {
                            w.open();
                            rs.wait().await;
                            l2.push("the shielded wait completed");
                            ok()
                        });
                        let _ = shielded.await;
                        yield_now().await;
                        l.push("the starting child passed the checkpoint after the shield");
                        ok()
                    });
                    let _ = started.await;
                    ok()
                });
                waiting.wait().await;
                s.cancel();
                resume.open();
                Ok(())
            })
            .await;
        let (reason, errors) = expect_cancelled(r);
        assert!(matches!(reason, CancelReason::Explicit(_)), "{reason:?}");
        assert!(errors.is_none(), "{errors:?}");
        assert_eq!(log.events(), ["the shielded wait completed"], "events in `log`, in order");
    }));
}

/// C9 (AnyIO `TestCreateTask::test_cancel[True]` and `[False]`, adapted: a child cancelled
/// before it was first polled is dropped unpolled, where AnyIO runs it to its first
/// checkpoint): a child cancelled through its handle right after the spawn, or once it is
/// blocked, reports "cancelled" to an await inside the scope and to `result()` after it, its
/// future is dropped, it never passes its await, and the scope succeeds.
pub fn c9_a_child_cancelled_right_after_spawn_reports_cancelled(h: &dyn Harness) {
    for wait_until_running in [true, false] {
        h.block_on(Box::pin(async move {
            let t = Tracker::new();
            let started = Arc::new(AtomicBool::new(false));
            let passed = Arc::new(AtomicBool::new(false));
            let blocked = Gate::new();
            let event = Gate::new();
            let r = builder(h)
                .run(async |s| {
                    let (g, st, p, b, ev) =
                        (t.guard(), started.clone(), passed.clone(), blocked.clone(), event.clone());
                    let mut handle = s.spawn(async move {
                        let _g = g;
                        st.store(true, Ordering::SeqCst);
                        b.open();
                        ev.wait().await;
                        p.store(true, Ordering::SeqCst);
                        ok()
                    });
                    if wait_until_running {
                        blocked.wait().await;
                    }
                    handle.cancel();
                    let got = (&mut handle).await;
                    assert!(
                        matches!(got, Err(JoinError::Cancelled { .. })),
                        "awaiting the cancelled handle gave {got:?}"
                    );
                    assert_eq!(handle.state(), ChildState::Cancelled, "state reported by handle `handle`");
                    Ok::<_, BoxError>(handle)
                })
                .await;
            let handle = r.unwrap_or_else(|e| panic!("(wait_until_running = {wait_until_running}) the scope: {e}"));
            let after = handle.result();
            assert!(matches!(after, Err(JoinError::Cancelled { .. })), "result() after the scope gave {after:?}");
            assert_eq!(t.live(), 0, "the cancelled child's future was not dropped");
            assert!(!passed.load(Ordering::SeqCst), "the cancelled child passed its await");
            if wait_until_running {
                assert!(started.load(Ordering::SeqCst), "`started` was false, expected true");
            }
        }));
    }
}

/// O1 (AnyIO `test_task_name_custom_name` and `test_task_name_default`, adapted: a child has
/// no default name, and reads no name of its own): a name given to `spawn_named` or
/// `start_named` is the handle's name; `spawn` and `start` give unnamed children.
pub fn o1_a_name_given_at_spawn_or_start_reaches_the_handle(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                let spawned = s.spawn_named("custom name", async { Ok::<_, BoxError>(1) });
                let (_, started) = s
                    .start_named("custom name", |ready| async move {
                        ready.send(());
                        Ok::<_, BoxError>(2)
                    })
                    .await?;
                let plain_spawned = s.spawn(async { Ok::<_, BoxError>(3) });
                let (_, plain_started) = s
                    .start(|ready| async move {
                        ready.send(());
                        Ok::<_, BoxError>(4)
                    })
                    .await?;
                Ok::<_, BoxError>([spawned, started, plain_spawned, plain_started])
            })
            .await;
        let handles = r.unwrap();
        let names: Vec<_> = handles.iter().map(|h| h.name().map(str::to_owned)).collect();
        assert_eq!(
            names,
            [Some("custom name".to_owned()), Some("custom name".to_owned()), None, None],
            "value of `names`"
        );
        let values: Vec<_> = handles.into_iter().map(|h| h.result().unwrap()).collect();
        assert_eq!(values, [1, 2, 3, 4], "value of `values`");
    }));
}
