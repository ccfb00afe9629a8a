-- tscale coordinator schema, version 7: the whole current schema, applied by tscale-server to an empty
-- database. A database of an older version is upgraded in place by the ordered steps in server/migrations.cc,
-- keyed on PRAGMA user_version; tests check that the upgraded schema equals this one.
-- Protobuf blobs hold the full message; the columns beside them are what queries filter on.

CREATE TABLE sweeps (
  id            INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL DEFAULT '',
  spec          BLOB    NOT NULL,             -- tscale.v1.SweepSpec
  created_ms    INTEGER NOT NULL
);

-- Each distinct model config jobs ran with, stored once (version 7): content-addressed by its text (the UNIQUE
-- index), so a sweep of thousands of jobs over a few models stores a few configs, and a job's spec blob plus
-- its config_id still name exactly what ran.
CREATE TABLE model_configs (
  id    INTEGER PRIMARY KEY,
  json  TEXT    NOT NULL UNIQUE
);

CREATE TABLE jobs (
  id             INTEGER PRIMARY KEY,
  sweep_id       INTEGER NOT NULL REFERENCES sweeps(id),
  model_id       TEXT    NOT NULL,
  category       TEXT    NOT NULL DEFAULT '',
  seq_len        INTEGER NOT NULL CHECK (seq_len > 0),
  batch_size     INTEGER NOT NULL CHECK (batch_size > 0),
  dtype          INTEGER NOT NULL,
  attention      INTEGER NOT NULL,
  repetition     INTEGER NOT NULL DEFAULT 0,
  spec           BLOB    NOT NULL,             -- tscale.v1.JobSpec (job_id filled on read)
  state          INTEGER NOT NULL,             -- tscale.v1.JobState
  attempts       INTEGER NOT NULL DEFAULT 0,   -- leases handed out so far
  current_attempt INTEGER,                     -- attempts.id of the live lease, NULL when none
  created_ms     INTEGER NOT NULL,
  updated_ms     INTEGER NOT NULL,
  requirements   BLOB    NOT NULL DEFAULT x'', -- spec.requirements serialized: the routing key (version 3)
  workload       INTEGER NOT NULL DEFAULT 1,   -- tscale.v1.Workload (version 5; older jobs are forward, 1)
  new_tokens     INTEGER NOT NULL DEFAULT 0,   -- decode: tokens generated per job; 0 for forward (version 5)
  checkpointing  INTEGER NOT NULL DEFAULT 0,   -- train: tscale.v1.Checkpointing; 0 for the others (version 6)
  loss           INTEGER NOT NULL DEFAULT 0,   -- train: tscale.v1.TrainLoss, resolved; 0 for the others (version 6)
  config_id      INTEGER REFERENCES model_configs(id)  -- spec.model_config_json, stored once (version 7; the
                                                       -- blob is written without it)
);
CREATE INDEX jobs_by_state ON jobs(state, id);
CREATE INDEX jobs_by_sweep ON jobs(sweep_id, id);
-- A claim walks the distinct requirements of the queued jobs through this index (a few seeks, however long
-- the queue) instead of parsing every queued spec.
CREATE INDEX jobs_by_requirements ON jobs(state, requirements, id);

CREATE TABLE workers (
  id            TEXT    PRIMARY KEY,
  capabilities  BLOB    NOT NULL,              -- tscale.v1.WorkerCapabilities
  registered_ms INTEGER NOT NULL,
  last_seen_ms  INTEGER NOT NULL,
  session       INTEGER NOT NULL DEFAULT 0,    -- incremented by every registration (daemon restart)
  instance      TEXT    NOT NULL DEFAULT ''    -- the registering daemon's instance id (version 4): a registration
                                               -- with another one is refused while the session is live
);

-- One row per lease. The id is the fencing token.
CREATE TABLE attempts (
  id               INTEGER PRIMARY KEY,
  job_id           INTEGER NOT NULL REFERENCES jobs(id),
  worker_id        TEXT    NOT NULL,
  leased_ms        INTEGER NOT NULL,
  lease_expires_ms INTEGER NOT NULL,
  ended_ms         INTEGER,
  end_reason       TEXT,                        -- completed / expired / cancelled / worker_restarted
  worker_session   INTEGER NOT NULL DEFAULT 0,  -- workers.session when leased
  metric_events    INTEGER NOT NULL DEFAULT 0   -- progress events stored for this attempt, capped (version 3)
);
CREATE INDEX attempts_by_job ON attempts(job_id);

-- Exactly one result per job: the primary key makes a second one impossible.
CREATE TABLE results (
  job_id            INTEGER PRIMARY KEY REFERENCES jobs(id),
  attempt_id        INTEGER NOT NULL,
  outcome           INTEGER NOT NULL,          -- tscale.v1.Outcome
  median_ms         REAL,
  tokens_per_second REAL,
  peak_rss_bytes    INTEGER,
  parameter_count   INTEGER,
  load_time_ms      REAL,
  result            BLOB    NOT NULL,          -- tscale.v1.Result without samples_ms
  finished_ms       INTEGER NOT NULL
);
CREATE INDEX results_by_outcome ON results(outcome);

-- Raw latency samples of every timed forward, in order.
CREATE TABLE samples (
  job_id     INTEGER NOT NULL REFERENCES results(job_id),
  idx        INTEGER NOT NULL,
  latency_ms REAL    NOT NULL,
  PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;

-- Every job state change and runner progress report, in order; the id is the watch stream's resume cursor.
CREATE TABLE events (
  id         INTEGER PRIMARY KEY,
  sweep_id   INTEGER NOT NULL,
  job_id     INTEGER NOT NULL,
  attempt_id INTEGER NOT NULL DEFAULT 0,
  state      INTEGER NOT NULL,                 -- tscale.v1.JobState
  outcome    INTEGER NOT NULL DEFAULT 0,       -- tscale.v1.Outcome, with state FINISHED
  detail     TEXT    NOT NULL DEFAULT '',
  metric     BLOB,                             -- tscale.v1.MetricEvent for progress reports
  unix_ms    INTEGER NOT NULL
);
CREATE INDEX events_by_sweep ON events(sweep_id, id);

PRAGMA user_version = 7;
