// Wire types of the gtc protocol (docs/protocol.md, protocol version 1).
// Field names are the wire names (snake_case); every object may carry extra keys.

/** Protocol version spoken by this client. */
export const PROTOCOL_VERSION = 1;

/** Role a connection announces in hello. */
export type Role = 'worker' | 'refinery' | 'client';

/** State of a lease on the server. */
export type LeaseState = 'pushed' | 'acked' | 'ended';

/** A lease: the right of one worker to work on one issue, fenced by its epoch. */
export interface Lease {
  id: string;
  epoch: number;
  issue_id: string;
  worker: string;
  state: LeaseState;
  attempt: number;
  /** RFC 3339. */
  created_at: string;
  /** RFC 3339. */
  ack_deadline: string;
  /** RFC 3339: the heartbeat deadline. */
  deadline: string;
  /** RFC 3339, once ended. */
  ended_at?: string;
  /** Why it ended: success, failure, expired, released, rejected, cancelled, ... */
  outcome?: string;
  error?: string;
  /** Last progress reported by heartbeat; after a success, the completion's summary (and commit). */
  progress?: string;
  /** The issue was assigned to this worker before the lease: it stays the worker's if the lease ends without closing it. */
  reserved?: boolean;
  [key: string]: unknown;
}

/** A dependency edge of an issue as bd stores it. */
export interface IssueDependency {
  issue_id?: string;
  depends_on_id?: string;
  type?: string;
  created_at?: string;
  created_by?: string;
  [key: string]: unknown;
}

/** An issue: the bd JSONL record exactly as stored; unknown keys are preserved. */
export interface Issue {
  id: string;
  title: string;
  description?: string;
  status?: string;
  priority?: number;
  issue_type?: string;
  assignee?: string;
  labels?: string[];
  dependencies?: IssueDependency[];
  created_at?: string;
  updated_at?: string;
  closed_at?: string;
  close_reason?: string;
  created_by?: string;
  [key: string]: unknown;
}

/** What the server pushes (assign) or hands out (claim, hello resume). */
export interface Assignment {
  lease: Lease;
  issue: Issue;
  /** "<title>\n\n<description>". */
  prompt: string;
}

/** Outcome of a work session (the harness names). */
export type SessionOutcome = 'success' | 'code_complete' | 'failure' | 'partial' | 'context_overflow';

/** Result of a work session, sent with complete. */
export interface SessionResult {
  outcome: SessionOutcome;
  summary: string;
  git_commit: string;
  context_used: number;
  duration_ms: number;
  error: string;
}

/** Which issues a worker wants. */
export interface Filters {
  labels?: string[];
  types?: string[];
  prefixes?: string[];
  /** Convoy-first: issues labelled convoy:<name> before all others. */
  convoy?: string;
  /** With convoy: only that convoy's issues. */
  convoy_only?: boolean;
}

/** Progress payload of a heartbeat: free text (the server stores it on the lease). */
export type Progress = string;

/** Params of hello. */
export interface HelloParams {
  name: string;
  role: Role;
  capacity?: number;
  filters?: Filters;
  protocol: number;
  token?: string;
}

/** Result of hello. */
export interface HelloResult {
  server: string;
  version: string;
  protocol: number;
  worker: string;
  heartbeat_ms: number;
  ack_timeout_ms: number;
  /** How long a disconnected worker keeps its leases (servers before grace_ms: absent). */
  grace_ms?: number;
  /** Live leases resumed after a reconnect. */
  leases: Assignment[];
  /** The coordinator's storage fails: this client session may only read (status, lists, events, health). */
  read_only?: boolean;
}

/** Params of heartbeat; without a lease it only refreshes the worker. */
export interface HeartbeatParams {
  lease_id?: string;
  epoch?: number;
  progress?: Progress;
}

/** Result of heartbeat. */
export interface HeartbeatResult {
  /** RFC 3339: the lease deadline after this heartbeat. */
  deadline: string;
}

/** Fields every mutating method accepts. */
export interface Idempotent {
  idempotency_key?: string;
}

/** Params of complete. */
export interface CompleteParams extends Partial<SessionResult>, Idempotent {
  lease_id: string;
  epoch: number;
}

/** Result of complete. */
export interface CompleteResult {
  issue_id: string;
  status: string;
  outcome: SessionOutcome;
}

/** Params of fail. */
export interface FailParams extends Idempotent {
  lease_id: string;
  epoch: number;
  error: string;
}

/** Result of fail. */
export interface FailResult {
  issue_id: string;
  status: string;
  attempt: number;
  dead_lettered: boolean;
}

/** Params of release. */
export interface ReleaseParams extends Idempotent {
  lease_id: string;
  epoch: number;
  reason?: string;
}

/** Result of release. */
export interface ReleaseResult {
  issue_id: string;
  status: string;
}

/** Params of claim. */
export interface ClaimParams extends Idempotent {
  wait_ms?: number;
  filters?: Filters;
}

/** Result of claim; the lease is already acked. */
export interface ClaimResult {
  assignment: Assignment | null;
}

/** Result of every issue.* mutation and issue.get. */
export interface IssueResult {
  issue: Issue;
  /** issue.get only: the issue's newest leases (at most 50), oldest first — its attempt history. */
  leases?: Lease[];
  /** issue.get only: whether the issue is handed out, and if not why. */
  readiness?: string;
  /** issue.get only: the issues depending on it (an epic's children: type parent-child), by id, at most 100. */
  dependents?: { id: string; type: string; status: string; title: string }[];
  /** issue.get only: how many issues depend on it in all. */
  dependents_total?: number;
}

/** Result of issue.list and issue.ready: one page (at most 5,000 records or 8 MiB). */
export interface IssuesResult {
  issues: Issue[];
  /** More issues match: ask again with offset = next_offset. */
  more?: boolean;
  /** The offset of the next page, when more. */
  next_offset?: number;
}

/** Params of issue.list. */
export interface IssueListParams {
  status?: string;
  label?: string;
  type?: string;
  assignee?: string;
  limit?: number;
  /** Skip the first offset matches (the next page). */
  offset?: number;
}

/** Params of issue.create. */
export interface IssueCreateParams extends Idempotent {
  id?: string;
  title: string;
  description?: string;
  priority?: number;
  type?: string;
  labels?: string[];
  deps?: { id: string; type?: string }[];
  assignee?: string;
  /** A child of this issue (parent-child dependency); without id, numbered <parent>.N as bd does. */
  parent?: string;
}

/** Params of issue.update. */
export interface IssueUpdateParams extends Idempotent {
  id: string;
  title?: string;
  description?: string;
  priority?: number;
  status?: string;
  assignee?: string;
  notes?: string;
  type?: string;
}

/** Params of issue.dep.add / issue.dep.remove. */
export interface IssueDepParams extends Idempotent {
  id: string;
  depends_on: string;
  type?: string;
}

/** Params of issue.label.add / issue.label.remove. */
export interface IssueLabelParams extends Idempotent {
  id: string;
  label: string;
}

/** Params of issue.comment. */
export interface IssueCommentParams extends Idempotent {
  id: string;
  text: string;
  author?: string;
}

/** Result of coord.status. */
export interface CoordStatus {
  /** ready_for_absent: how many of `ready` are assigned to a worker not connected (absent when 0). */
  issues: { ready: number; leased: number; closed: number; dead_lettered: number; blocked: number; other: number; total: number; ready_for_absent?: number };
  /** Worker and refinery sessions by state (CLI sessions left out). */
  workers: { idle: number; busy: number; draining: number; stalled: number; gone: number };
  /** The refineries among `workers`. */
  refineries: { idle: number; busy: number; draining: number; stalled: number; gone: number };
  paused: boolean;
  /** The JSONL sync (times RFC 3339): the last success, or since when it fails and why. */
  sync?: { last_ok?: string; failing_since?: string; error?: string };
  /** gtc.db: sizes, history retention, and storage trouble (commits failing, or one hung for 2 s or more). */
  store?: {
    path: string;
    bytes: number;
    wal_bytes: number;
    retain_ms: number;
    last_prune?: string;
    pruned?: { events: number; leases: number; merge_requests: number };
    prune_error?: string;
    error?: string;
    failing_since?: string;
    commit_stalled_since?: string;
  };
}

/** One worker in coord.workers. */
export interface WorkerInfo {
  name: string;
  role: Role;
  capacity: number;
  state: string;
  /** Drained by an operator (coord.drain, `gtc drain`): no new pushes; also while gone. */
  draining?: boolean;
  leases: Lease[];
  /** RFC 3339. */
  last_seen: string;
}

/** One page of the audit log (events.list): continue after next_seq while more. */
export interface EventsPage {
  events: GtcEvent[];
  next_seq: number;
  more: boolean;
}

/** A coordinator event (event notification). */
export interface GtcEvent {
  /** Its number in the audit log (events.list after_seq resumes after it). */
  seq: number;
  time: string;
  kind: string;
  issue_id?: string;
  lease_id?: string;
  worker?: string;
  actor?: string;
  /** Free text or JSON text. */
  detail?: string;
  [key: string]: unknown;
}

/** Params of the assign request (server → client). */
export type AssignParams = Assignment;

/** Reply to assign: accepted = ack, otherwise a reject (requeued, no penalty). */
export interface AssignReply {
  accepted: boolean;
  reason?: string;
}

/** Params of the cancel notification (server → client): a lease taken away (lease_id), or, to a refinery, a merge slot withdrawn (merge_id). */
export interface CancelParams {
  lease_id?: string;
  merge_id?: string;
  epoch: number;
  issue_id: string;
  reason?: string;
}

/** A merge request (merge.submit, merge.list; pushed to a refinery by the merge request). Times RFC 3339. */
export interface MergeRequest {
  id: string;
  issue_id: string;
  /** The submitting worker. */
  worker: string;
  branch: string;
  commit: string;
  target: string;
  files?: string[];
  state: 'pending' | 'merging' | 'merged' | 'failed' | 'cancelled';
  attempts: number;
  /** The refinery holding its merge slot (merging). */
  refinery?: string;
  /** The slot's epoch: merge.report carries it. */
  epoch?: number;
  /** When the slot is taken back without a report (a refinery's heartbeat renews it). */
  deadline?: string;
  created_at: string;
  updated_at: string;
  /** Why the last attempt failed. */
  error?: string;
  conflicts?: string[];
  /** The refinery's latest note on the attempt running (its heartbeat's progress). */
  progress?: string;
}

/** Params of the merge request (server → refinery). */
export interface MergePushParams {
  request: MergeRequest;
}

/** Params of merge.submit. */
export interface MergeSubmitParams extends Idempotent {
  issue_id: string;
  branch: string;
  commit?: string;
  files?: string[];
  target?: string;
  /** The issue's live lease the work was done under (with epoch). */
  lease_id?: string;
  epoch?: number;
}

/** Params of merge.report: the outcome of the merge slot id held at epoch. */
export interface MergeReportParams extends Idempotent {
  id: string;
  epoch: number;
  merged: boolean;
  conflicts?: string[];
  /** The gate failed: the change needs rework (the issue is reopened). */
  rework?: boolean;
  reason?: string;
  merge_commit?: string;
}

/** A convoy's progress (convoy.create, convoy.list, convoy.show). */
export interface ConvoyProgress {
  name: string;
  total: number;
  closed: number;
  in_progress: number;
  failed: number;
  open: number;
  percent: number;
  complete: boolean;
  tracking_id?: string;
  tracking_status?: string;
  issue_ids: string[];
}

/** Result of coord.health. */
export interface HealthReport {
  status: 'healthy' | 'degraded' | 'unhealthy';
  success_rate: number;
  samples: number;
  stalled?: string[];
  storage_failing?: boolean;
  reasons?: string[];
}

/**
 * Params of the drain notification (server → worker): an operator drained this worker (`gtc drain NAME`: no
 * new work is pushed, running leases go on) or undid the drain; sent too at a hello while a drain
 * is in force (`by` absent then), before the hello's reply: listen before calling hello().
 */
export interface DrainNotice {
  draining: boolean;
  by?: string;
}

/** Params of the shutdown notification (server → client). */
export interface ShutdownParams {
  reason: string;
}

/** Client → server methods: params and result of each. */
export interface Methods {
  hello: { params: HelloParams; result: HelloResult };
  heartbeat: { params: HeartbeatParams; result: HeartbeatResult };
  complete: { params: CompleteParams; result: CompleteResult };
  fail: { params: FailParams; result: FailResult };
  release: { params: ReleaseParams; result: ReleaseResult };
  claim: { params: ClaimParams; result: ClaimResult };
  'issue.get': { params: { id: string }; result: IssueResult };
  'issue.list': { params: IssueListParams; result: IssuesResult };
  'issue.ready': { params: { limit?: number; offset?: number }; result: IssuesResult };
  'issue.create': { params: IssueCreateParams; result: IssueResult };
  'issue.update': { params: IssueUpdateParams; result: IssueResult };
  'issue.close': { params: { id: string; reason?: string } & Idempotent; result: IssueResult };
  'issue.dep.add': { params: IssueDepParams; result: IssueResult };
  'issue.dep.remove': { params: IssueDepParams; result: IssueResult };
  'issue.label.add': { params: IssueLabelParams; result: IssueResult };
  'issue.label.remove': { params: IssueLabelParams; result: IssueResult };
  'issue.comment': { params: IssueCommentParams; result: IssueResult };
  'coord.status': { params: Record<string, never>; result: CoordStatus };
  'coord.workers': { params: Record<string, never>; result: { workers: WorkerInfo[] } };
  'coord.pause': { params: Idempotent; result: { paused: boolean } };
  'coord.resume': { params: Idempotent; result: { paused: boolean } };
  'events.subscribe': { params: { kinds?: string[] }; result: { subscribed: boolean; seq: number } };
  'events.list': { params: { after_seq?: number; limit?: number; issue_id?: string }; result: EventsPage };
  'coord.drain': { params: { worker: string; undo?: boolean; session?: boolean } & Idempotent; result: { worker: string; draining: boolean } };
  'lease.cancel': { params: { lease_id: string; reason?: string } & Idempotent; result: { lease_id: string; cancelled: boolean } };
  'merge.submit': { params: MergeSubmitParams; result: { request: MergeRequest; conflicts_with: string[]; conflicting_files: string[] } };
  'merge.list': { params: { target?: string }; result: { requests: MergeRequest[] } };
  'merge.report': { params: MergeReportParams; result: { request: MergeRequest } };
  'merge.cancel': { params: { id?: string; issue_id?: string; reason?: string } & Idempotent; result: { request: MergeRequest } };
  'convoy.create': { params: { name: string; title?: string; issue_ids?: string[] } & Idempotent; result: { convoy: ConvoyProgress } };
  'convoy.list': { params: Record<string, never>; result: { convoys: ConvoyProgress[] } };
  'convoy.show': { params: { name: string }; result: { convoy: ConvoyProgress } };
  'coord.health': { params: Record<string, never>; result: HealthReport };
  /** The harness profiler's ProfileReport over a window (docs/protocol.md). */
  'coord.profile': { params: { window_ms?: number; target_agents?: number; target_issues?: number }; result: Record<string, unknown> };
}

/** Name of a client → server method. */
export type Method = keyof Methods;
