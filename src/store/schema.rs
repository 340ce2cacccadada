// One schema for both backends: integers, Text, Timestamp (UTC), Double, Bool.
// JSON is kept as Text.

diesel::table! {
    passes (id) {
        id -> BigInt,
        job -> Text,
        entity -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        status -> Text,
        records_read -> BigInt,
        matched_auto -> BigInt,
        matched_review -> BigInt,
        in_sync -> BigInt,
        different -> BigInt,
        not_found -> BigInt,
        ambiguous -> BigInt,
        lookup_failed -> BigInt,
        inactive -> BigInt,
        skipped -> BigInt,
        changes_proposed -> BigInt,
        changes_applied -> BigInt,
        conflicts -> BigInt,
        changes_failed -> BigInt,
        pending_review -> BigInt,
        error -> Nullable<Text>,
        unreadable_values -> BigInt,
        unchanged -> BigInt,
    }
}

diesel::table! {
    changes (id) {
        id -> BigInt,
        pass_id -> BigInt,
        job -> Text,
        entity -> Text,
        record_id -> Text,
        source -> Text,
        register_id -> Text,
        field -> Text,
        kind -> Text,
        old_value -> Nullable<Text>,
        new_value -> Nullable<Text>,
        policy -> Text,
        status -> Text,
        score -> Double,
        reason -> Text,
        created_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
        decided_by -> Nullable<Text>,
        applied_at -> Nullable<Timestamp>,
        applying_since -> Nullable<Timestamp>,
        reverts_change_id -> Nullable<BigInt>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        job -> Text,
        pass_id -> Nullable<BigInt>,
        change_id -> Nullable<BigInt>,
        entity -> Text,
        record_id -> Text,
        field -> Nullable<Text>,
        old_value -> Nullable<Text>,
        new_value -> Nullable<Text>,
        source -> Nullable<Text>,
        score -> Nullable<Double>,
        detail -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
        values_digest -> Nullable<Text>,
        redacted -> Nullable<Text>,
    }
}

diesel::table! {
    record_status (job, record_id) {
        job -> Text,
        record_id -> Text,
        entity -> Text,
        status -> Text,
        detail -> Text,
        pass_id -> BigInt,
        checked_at -> Timestamp,
        verified_at -> Nullable<Timestamp>,
        inputs -> Nullable<BigInt>,
    }
}

diesel::table! {
    matches (job, record_id) {
        job -> Text,
        record_id -> Text,
        register_id -> Text,
        score -> Double,
        method -> Text,
        grade -> Text,
        pass_id -> BigInt,
        matched_at -> Timestamp,
    }
}

diesel::table! {
    provenance (crm, entity, record_id, field) {
        crm -> Text,
        entity -> Text,
        record_id -> Text,
        field -> Text,
        value -> Nullable<Text>,
        source -> Text,
        register_id -> Text,
        change_id -> BigInt,
        pass_id -> BigInt,
        written_at -> Timestamp,
    }
}

diesel::table! {
    suppressions (job, record_id, field, value_key) {
        job -> Text,
        record_id -> Text,
        field -> Text,
        value_key -> Text,
        value -> Text,
        decided_by -> Text,
        decided_at -> Timestamp,
        change_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    job_cursors (job) {
        job -> Text,
        cursor -> Nullable<Text>,
        full_pass_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
        disabled -> Bool,
    }
}

diesel::table! {
    sessions (token_hash) {
        token_hash -> Text,
        user_id -> BigInt,
        csrf -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        last_seen -> Timestamp,
    }
}

diesel::table! {
    api_tokens (token_hash) {
        token_hash -> Text,
        user_id -> BigInt,
        label -> Text,
        created_at -> Timestamp,
        last_used -> Nullable<Timestamp>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));

diesel::table! {
    match_verdicts (job, record_id, register_id) {
        job -> Text,
        record_id -> Text,
        register_id -> Text,
        entity -> Text,
        verdict -> Text,
        score -> Double,
        pass_id -> Nullable<BigInt>,
        decided_by -> Text,
        decided_at -> Timestamp,
    }
}

diesel::table! {
    pass_models (pass_id) {
        pass_id -> BigInt,
        job -> Text,
        model -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    duplicate_clusters (job, record_id) {
        job -> Text,
        record_id -> Text,
        cluster_id -> Text,
        since_pass -> BigInt,
    }
}

diesel::table! {
    duplicate_seen (job, record_id) {
        job -> Text,
        record_id -> Text,
        digest -> Text,
    }
}

diesel::table! {
    duplicate_splits (job, record_a, record_b) {
        job -> Text,
        record_a -> Text,
        record_b -> Text,
        merge_id -> BigInt,
        decided_by -> Text,
        decided_at -> Timestamp,
    }
}

diesel::table! {
    merges (id) {
        id -> BigInt,
        job -> Text,
        entity -> Text,
        cluster_id -> Text,
        pass_id -> BigInt,
        survivor -> Text,
        members -> Text,
        golden -> Text,
        fingerprint -> Text,
        weakest_link -> Double,
        review -> Bool,
        status -> Text,
        created_at -> Timestamp,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        error -> Nullable<Text>,
        undo -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    passes,
    duplicate_clusters,
    duplicate_seen,
    duplicate_splits,
    merges,
    pass_models,
    changes,
    audit_log,
    record_status,
    matches,
    provenance,
    suppressions,
    register_cache,
    users,
    sessions,
    api_tokens,
    consents,
    erasures,
    erased_subjects,
    match_verdicts
);

diesel::table! {
    register_cache (register, key_hash) {
        register -> Text,
        key_hash -> Text,
        request -> Text,
        body -> Text,
        last_update -> Nullable<Text>,
        fetched_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    consents (id) {
        id -> BigInt,
        crm -> Text,
        contact_id -> Text,
        channel -> Text,
        status -> Text,
        source -> Text,
        given_at -> Timestamp,
        evidence -> Nullable<Text>,
        recorded_by -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    erasures (crm, record_id) {
        crm -> Text,
        record_id -> Text,
        job -> Text,
        crm_action -> Text,
        erased_by -> Text,
        erased_at -> Timestamp,
    }
}

diesel::table! {
    erased_subjects (key_hash) {
        key_hash -> Text,
        erased_at -> Timestamp,
    }
}
