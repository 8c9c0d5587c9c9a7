"""Schema migrations, applied in order; ``PRAGMA user_version`` records how many ran."""

MIGRATIONS: list[str] = [
    # 1: bug records, label assignments, miner sync state and raw response archive.
    """
    CREATE TABLE records (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        engine TEXT NOT NULL,
        repo TEXT NOT NULL,
        number INTEGER,
        kind TEXT NOT NULL DEFAULT 'issue' CHECK (kind IN ('issue', 'pr', 'difftest')),
        title TEXT,
        body TEXT,
        state TEXT,
        author_association TEXT,
        labels TEXT NOT NULL DEFAULT '[]',
        comments_count INTEGER,
        comments TEXT,
        created_at TEXT,
        updated_at TEXT,
        closed_at TEXT,
        fix_url TEXT,
        fix_number INTEGER,
        fix_merged_at TEXT,
        fix_files_changed INTEGER,
        fix_additions INTEGER,
        fix_deletions INTEGER,
        time_to_fix_days REAL,
        extra TEXT NOT NULL DEFAULT '{}',
        hydrated_at TEXT,
        inserted_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    CREATE INDEX records_engine ON records(engine);
    CREATE TABLE labels (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
        dimension TEXT NOT NULL,
        value TEXT NOT NULL,
        position INTEGER NOT NULL DEFAULT 0,
        coder TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL CHECK (source IN ('paper', 'manual', 'classifier', 'difftest', 'arbitration')),
        confidence REAL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        UNIQUE (record_id, dimension, position, coder, source)
    );
    CREATE INDEX labels_record ON labels(record_id);
    CREATE INDEX labels_dim_source ON labels(dimension, source);
    CREATE TABLE sync_state (
        repo TEXT PRIMARY KEY,
        last_synced_at TEXT,
        checkpoint TEXT,
        updated_at TEXT
    );
    CREATE TABLE raw_responses (
        id INTEGER PRIMARY KEY,
        repo TEXT NOT NULL,
        url TEXT NOT NULL,
        fetched_at TEXT NOT NULL,
        body TEXT NOT NULL
    );
    """,
    # 2: provenance of arbitrated labels: which coders' labels an arbitrator resolved.
    """
    CREATE TABLE arbitrations (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
        dimension TEXT NOT NULL,
        arbitrator TEXT NOT NULL,
        resolved TEXT NOT NULL,
        chosen TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    CREATE INDEX arbitrations_record ON arbitrations(record_id);
    """,
    # 3: every record belongs to one named collection: "paper" (the paper's import), "mined:<owner/name>"
    # (a mining run per repository), "difftest:<model>" (differential-test findings). The study counts
    # the human-labelled collections unless asked for others.
    """
    ALTER TABLE records ADD COLUMN collection TEXT NOT NULL DEFAULT '';
    UPDATE records SET collection = 'difftest:' || substr(repo, 10) WHERE kind = 'difftest';
    UPDATE records SET collection = 'paper'
        WHERE collection = '' AND id IN (SELECT record_id FROM labels WHERE source = 'paper');
    UPDATE records SET collection = 'mined:' || repo WHERE collection = '';
    CREATE INDEX records_collection ON records(collection);
    """,
    # 4: repository names as GitHub resolved them: every spelling the miner was given (a preset's
    # former name, an owner/name on the command line) -> the current owner/name and GitHub's id,
    # so a renamed or transferred repository is recorded and its records carry the current name.
    """
    CREATE TABLE repo_names (
        name TEXT PRIMARY KEY COLLATE NOCASE,
        canonical TEXT NOT NULL,
        github_id INTEGER,
        resolved_at TEXT NOT NULL
    );
    CREATE INDEX repo_names_canonical ON repo_names(canonical);
    """,
    # 5: the raw-response archive keeps the headers a replay needs (Link for paging, Date for the sync
    # cursor) and is looked up by URL (identical responses are not stored twice; replay; prune).
    """
    ALTER TABLE raw_responses ADD COLUMN headers TEXT NOT NULL DEFAULT '{}';
    CREATE INDEX raw_responses_url ON raw_responses(url, id);
    """,
]
