-- The load ledger, one row per extract file and attempt, for lineage and reports.
with

batches as (
    select * from {{ source('audit', 'load_batches') }}
),

final as (
    select
        batch_id,
        source,
        logical_date,
        file_name,
        file_hash,
        file_bytes,
        encoding,
        rows_read,
        rows_loaded,
        rows_quarantined,
        status,
        message,
        started_at,
        loaded_at,
        validated_at,
        published_at
    from batches
)

select * from final
