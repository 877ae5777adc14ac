// The cluster link's table, created by its own migration (number 13 in
// `Migrations.all`).

/// Migrations of the cluster link.
enum ClusterMigrations {
    /// Messages too big for a NOTIFY payload: the sender stores one here and
    /// NOTIFYs `#<id>;` in the same transaction; every node's listener reads
    /// it by id. The sender deletes rows older than ten minutes now and
    /// then (hence the index).
    static let payloads = """
        CREATE TABLE cluster_payloads (
            id         bigserial PRIMARY KEY,
            body       text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX cluster_payloads_created ON cluster_payloads (created_at);
        """
}
