"""Backups and restore.

Files live in a `backups/` folder beside the database (mode 0700, files 0600). Three kinds:
- full: a copy of the whole database made with SQLite's online backup API on the database's own
  connection, in steps, with progress; restorable.
- config_only: the configuration tables exported as JSON (CONFIG_TABLES). Secret values stay as
  their `fernet:` ciphertext, readable only with the key file beside the database; a sensitive
  value found in plaintext is left out of the file (and counted) rather than written.
- incremental: the history and audit rows (config_history, logs) created since the previous
  completed backup of any kind, as JSON.
Every backup's sha256 and size are recorded. Its row is committed 'In Progress' first, then set to
'Completed' or 'Failed' in a second transaction, which also writes its audit row.

Restore (full backups only) checks the file against its checksum, takes a safety backup of the
current database, and then copies the backup INTO the live connection with the backup API in one
step, so the switch is atomic and clients already connected go on being served, with the restored
data. Some things are carried over from the current database rather than rolled back: the backups
catalogue (so every backup file stays listed, including the safety backup), users and API tokens
(access control is never rolled back: a revoked token stays revoked), and the log rows written
after the backup was taken (the audit trail is append-only history), plus the restore's own audit row.

Modules: models (what the backup tools return), files (the backups folder, hashing, writing),
writers (how each kind of backup file is written), quota (backup_max_count / backup_max_bytes),
restore (a full backup copied into the live database), housekeeping (automatic, expired and
interrupted backups, for the scheduler), service (BackupService: the backup tools).
"""
