//! The OpenAPI 3.1 document of `/api/v1/`, served at `/api/v1/openapi.json`. Written by
//! hand as JSON; the API tests check that it and the router name the same routes.

use serde_json::{json, Map, Value};

use super::api::{DEFAULT_AUDIT_LIMIT, DEFAULT_LIMIT, MAX_LIMIT};
use super::auth::MIN_PASSWORD_CHARS;
use crate::domain::check::ProblemKind;
use crate::domain::consent::{Audience, Channel, Ground};
use crate::domain::model::{Band, MatchStatus, MergeStatus};
use crate::store::users::Role;

/// The names of every value of a `snake_names!` type, as a JSON schema enum.
fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Value {
    json!({ "enum": all.iter().map(|v| name(*v)).collect::<Vec<_>>() })
}

/// The `limit` parameter of a paged list with `default` rows.
fn limit(default: i64) -> Value {
    query(
        "limit",
        "integer",
        &format!("page size, 1..={MAX_LIMIT}, default {default}"),
    )
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn query(name: &str, kind: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false,
            "description": description, "schema": { "type": kind } })
}

fn path_param(name: &str, kind: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": kind } })
}

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

/// An operation: who may call it, its parameters, body and the JSON it answers with.
fn operation(
    summary: &str,
    role: Option<&str>,
    parameters: Vec<Value>,
    body: Option<Value>,
    answer: Value,
) -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({ "description": "OK", "content": { "application/json": { "schema": answer } } }),
    );
    responses.insert(
        "400".into(),
        json!({ "$ref": "#/components/responses/Error" }),
    );
    let mut op = Map::new();
    op.insert("summary".into(), json!(summary));
    if let Some(role) = role {
        responses.insert(
            "401".into(),
            json!({ "$ref": "#/components/responses/Error" }),
        );
        responses.insert(
            "403".into(),
            json!({ "$ref": "#/components/responses/Error" }),
        );
        op.insert(
            "description".into(),
            json!(format!("Needs the `{role}` role (or a higher one).")),
        );
    } else {
        op.insert("security".into(), json!([]));
    }
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    if let Some(body) = body {
        op.insert("requestBody".into(), json_body(body));
    }
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

fn object() -> Value {
    json!({ "type": "object" })
}

fn array_of(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

fn change_filters() -> Vec<Value> {
    vec![
        query(
            "status",
            "string",
            "comma-separated statuses; empty means all",
        ),
        query("job", "string", "job name"),
        query("field", "string", "field name"),
        query("pass", "integer", "pass id"),
        query("record", "string", "CRM record id"),
        query("min_score", "number", "match probability at least"),
        query("max_score", "number", "match probability at most"),
        query(
            "text",
            "string",
            "case-insensitive substring of record id, old or new value",
        ),
        query("sort", "string", "id (default), -id, score or -score"),
        limit(DEFAULT_LIMIT),
        query("offset", "integer", "rows to skip, default 0"),
    ]
}

/// A merge of duplicates as the API shows it (`sync::duplicates::MergeView`).
fn merge_schema() -> Value {
    let kept = json!({ "type": "object", "properties": {
        "value": { "type": "string" }, "from": { "type": "string" },
        "rule": { "type": ["string", "null"] } } });
    json!({ "type": "object", "properties": {
        "id": { "type": "integer" }, "job": { "type": "string" }, "entity": { "type": "string" },
        "cluster_id": { "type": "string" }, "pass_id": { "type": "integer" },
        "status": names(MergeStatus::ALL, MergeStatus::as_str),
        "members": array_of(json!({ "type": "string" })),
        "golden": { "type": "object", "properties": { "survivor": { "type": "string" },
            "values": { "type": "object", "additionalProperties": kept } } },
        "weakest_link": { "type": "number" }, "review": { "type": "boolean" },
        "decided_by": { "type": ["string", "null"] }, "error": { "type": ["string", "null"] } } })
}

/// `POST /api/v1/check`: who may call it and what it refuses beyond the usual.
fn check_operation() -> Value {
    let mut op = operation(
        "Check one record on entry: standard forms, problems, probable CRM duplicates, the register match with its enrichment, and for a contact the verdict per channel (UWG §7). Nothing is stored unless `store` is true; then proposals for review, never a CRM write",
        Some(Role::Steward.as_str()),
        vec![],
        Some(reference("CheckRequest")),
        reference("CheckAnswer"),
    );
    op["description"] = json!(format!(
        "Needs the `steward` role (or a higher one), or `intake`, which may do nothing else. Bodies over {} KiB answer 413; more than `http.check_per_second` checks per second with one token 429; a job whose index is still being built 503.",
        super::check::MAX_CHECK_BYTES / 1024
    ));
    for code in ["404", "413", "429", "503"] {
        op["responses"][code] = json!({ "$ref": "#/components/responses/Error" });
    }
    op
}

/// A matched candidate as a check shows it (`domain::check::Candidate`).
fn candidate_schema() -> Value {
    json!({ "type": "object", "properties": {
        "id": { "type": "string" }, "probability": { "type": "number" },
        "band": names(Band::ALL, Band::as_str), "grade": { "type": "string" },
        "explanation": array_of(json!({ "type": "object", "properties": {
            "field": { "type": "string" },
            "crm": { "type": ["string", "null"], "description": "the checked record's value as compared" },
            "register": { "type": ["string", "null"], "description": "the candidate's value as compared" },
            "level": { "enum": ["exact", "close", "far", "missing"] },
            "contribution": { "type": "number" } } })) } })
}

fn check_schemas() -> Value {
    let proposal = json!({ "type": "object", "properties": {
        "kind": { "type": "string" }, "field": { "type": "string" },
        "old": { "type": ["string", "null"] }, "new": { "type": "string" },
        "policy": { "type": "string" }, "automatic": { "type": "boolean" },
        "note": { "type": "string" } } });
    json!({
        "CheckRequest": { "type": "object", "required": ["job", "record"], "additionalProperties": false,
            "properties": {
                "job": { "type": "string" },
                "mapping": { "type": "string", "description": "a form mapping of [job.NAME.check.mappings]; without it `record` has canonical field names" },
                "record": { "type": "object", "additionalProperties": { "type": "string" } },
                "store": { "type": "boolean", "default": false, "description": "store proposals for review (a new record, or updates of the duplicate)" } } },
        "CheckAnswer": { "type": "object",
            "required": ["job", "entity", "erased", "normalised", "problems", "duplicates", "suggestions"],
            "properties": {
                "job": { "type": "string" }, "entity": { "enum": ["organisation", "contact"] },
                "erased": { "type": "boolean", "description": "an erased person: nothing else is answered or stored" },
                "normalised": { "type": "object", "additionalProperties": { "type": "string" } },
                "problems": array_of(json!({ "type": "object", "properties": {
                    "field": { "type": "string" },
                    "kind": names(ProblemKind::ALL, ProblemKind::as_str),
                    "message": { "type": "string" } } })),
                "duplicates": array_of(candidate_schema()),
                "register": { "type": ["object", "null"], "properties": {
                    "status": names(MatchStatus::ALL, MatchStatus::as_str),
                    "best": { "oneOf": [candidate_schema(), { "type": "null" }] },
                    "ambiguous": array_of(candidate_schema()),
                    "error": { "type": "string" },
                    "values": { "type": ["object", "null"], "additionalProperties": { "type": "string" } },
                    "proposals": array_of(proposal.clone()) } },
                "suggestions": array_of(proposal),
                "channels": { "type": ["object", "null"], "properties": {
                    "audience": names(Audience::ALL, Audience::as_str), "audience_reason": { "type": "string" },
                    "verdicts": { "type": "array", "items": { "type": "object", "properties": {
                        "channel": names(Channel::ALL, Channel::as_str),
                        "allowed": { "type": "boolean" }, "reason": { "type": "string" },
                        "ground": names(Ground::ALL, Ground::as_str) } } } } },
                "stored": { "type": ["object", "null"], "properties": {
                    "pass_id": { "type": "integer" }, "record_id": { "type": "string" },
                    "changes_proposed": { "type": "integer" } } },
                "index_built_at": { "type": "string" } } }
    })
}

/// The whole document.
pub fn document() -> Value {
    let viewer = Some(Role::Viewer.as_str());
    let steward = Some(Role::Steward.as_str());
    let admin = Some(Role::Admin.as_str());
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "refsync review API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Review, apply and revert the changes refsync proposes. Authenticate with `Authorization: Bearer TOKEN` (`refsync user token create`) or a browser session; state-changing calls made with a session cookie need the `X-CSRF-Token` header (from GET /api/v1/me)."
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }, { "session": [] }],
        "paths": {
            "/api/v1/openapi.json": { "get": operation("This document", None, vec![], None, object()) },
            "/api/v1/me": { "get": operation("The caller's name, role and CSRF token", viewer, vec![], None, reference("Me")) },
            "/api/v1/passes": { "get": operation("Passes, newest first", viewer,
                vec![query("job", "string", "job name"), limit(DEFAULT_LIMIT)],
                None, array_of(reference("Pass"))) },
            "/api/v1/passes/{id}": { "get": operation("A pass with its changes counted per status", viewer,
                vec![path_param("id", "integer")], None, reference("PassDetail")) },
            "/api/v1/changes": { "get": operation("A filtered, sorted page of changes with the total and counts per status and field", viewer,
                change_filters(), None, reference("ChangePage")) },
            "/api/v1/changes/{id}": { "get": operation("One change", viewer,
                vec![path_param("id", "integer")], None, reference("Change")) },
            "/api/v1/records/{job}/{record_id}": { "get": operation("A record: stored match, explanation with grade, CRM and register values, changes and audit history", viewer,
                vec![path_param("job", "string"), path_param("record_id", "string"),
                     query("candidates", "boolean", "also re-match live against the register (reads CRM and register)")],
                None, reference("RecordView")) },
            "/api/v1/consent/{job}/{id}": {
                "get": operation("A contact's advertising consent: the verdict per channel (UWG §7) with its reason, business or consumer, and the consent records", viewer,
                    vec![path_param("job", "string"), path_param("id", "string")], None, reference("ContactConsent")),
                "post": operation("Record a revocation (opt-out) for one channel; earlier records stay, the revocation wins from now on", steward,
                    vec![path_param("job", "string"), path_param("id", "string")],
                    Some(json!({ "type": "object", "required": ["channel"], "properties": {
                        "channel": names(Channel::ALL, Channel::as_str),
                        "source": { "type": "string" } } })),
                    reference("ContactConsent"))
            },
            "/api/v1/check": { "post": check_operation() },
            "/api/v1/status": { "get": operation("Records and changes counted per status, per job", viewer, vec![], None, object()) },
            "/api/v1/duplicates": { "get": operation("Proposed merges of duplicates inside the CRM, newest first", viewer,
                vec![query("job", "string", "job name"),
                     query("status", "string", "a merge status or `all`; default proposed")],
                None, array_of(reference("Merge"))) },
            "/api/v1/duplicates/{id}": { "get": operation("One merge: its records and the merged record, each value with the record it came from", viewer,
                vec![path_param("id", "integer")], None, reference("Merge")) },
            "/api/v1/duplicates/{id}/approve": { "post": operation("Approve a proposed merge (again: no change)", steward,
                vec![path_param("id", "integer")], None, reference("Merge")) },
            "/api/v1/duplicates/{id}/reject": { "post": operation("Reject a proposed merge; not proposed again while its records stay as they are", steward,
                vec![path_param("id", "integer")], None, reference("Merge")) },
            "/api/v1/duplicates/{id}/split": { "post": operation("Split records out of a proposed merge's cluster: the merge is rejected and no pass clusters them with the others again", steward,
                vec![path_param("id", "integer")],
                Some(json!({ "type": "object", "required": ["records"], "additionalProperties": false,
                    "properties": { "records": array_of(json!({ "type": "string" })) } })),
                reference("Merge")) },
            "/api/v1/duplicates/{id}/revert": { "post": operation("Undo an applied merge: the survivor's values back, the others reactivated, foreign keys moved back; a record edited since is a conflict", admin,
                vec![path_param("id", "integer")], None, reference("MergeApplied")) },
            "/api/v1/duplicates/apply": { "post": operation("Write the approved merges to the CRM, each in one CRM transaction", admin,
                vec![], Some(json!({ "type": "object", "properties": { "job": { "type": "string" } } })),
                array_of(reference("MergeApplied"))) },
            "/api/v1/decisions": { "post": operation("Approve, reject, edit-and-approve or mark wrong: changes by id, or every proposed change of a filter", steward,
                vec![], Some(reference("DecisionRequest")), reference("DecisionResult")) },
            "/api/v1/apply": { "post": operation("Write approved changes to the CRM", admin,
                vec![], Some(json!({ "type": "object", "properties": { "job": { "type": "string" } } })), object()) },
            "/api/v1/revert": { "post": operation("Undo one applied change or a whole pass", admin,
                vec![], Some(json!({ "type": "object", "properties": {
                    "change": { "type": "integer" }, "pass": { "type": "integer" } } })), object()) },
            "/api/v1/audit": { "get": operation("Audit entries, newest first; with format=csv|json every matching entry, oldest first, as a download", viewer,
                vec![query("job", "string", "job name"), query("record", "string", "CRM record id"),
                     query("change", "integer", "change id"), query("pass", "integer", "pass id"),
                     query("actor", "string", "user name or `system`"),
                     limit(DEFAULT_AUDIT_LIMIT),
                     query("format", "string", "csv or json: export")],
                None, array_of(reference("AuditEntry"))) },
            "/api/v1/config": { "get": operation("The effective configuration, secrets redacted", admin, vec![], None,
                json!({ "type": "object", "properties": { "toml": { "type": "string" } } })) },
            "/api/v1/users": {
                "get": operation("Users", admin, vec![], None, array_of(object())),
                "post": operation("Create a user", admin, vec![], Some(json!({
                    "type": "object", "required": ["name", "role", "password"],
                    "properties": { "name": { "type": "string" },
                                    "role": names(Role::ALL, Role::as_str),
                                    "password": { "type": "string", "minLength": MIN_PASSWORD_CHARS } } })), object())
            },
            "/api/v1/users/{name}/disable": { "post": operation("Disable a user and end their sessions", admin,
                vec![path_param("name", "string")], None, object()) }
        },
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "session": { "type": "apiKey", "in": "cookie", "name": super::auth::COOKIE }
            },
            "responses": {
                "Error": { "description": "The request was refused; `error` says why",
                    "content": { "application/json": { "schema": reference("Error") } } }
            },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } },
                "ContactConsent": { "type": "object", "properties": {
                    "job": { "type": "string" }, "crm": { "type": "string" }, "contact_id": { "type": "string" },
                    "audience": names(Audience::ALL, Audience::as_str), "audience_reason": { "type": "string" },
                    "verdicts": { "type": "array", "items": { "type": "object", "properties": {
                        "channel": names(Channel::ALL, Channel::as_str),
                        "allowed": { "type": "boolean" }, "reason": { "type": "string" },
                        "ground": names(Ground::ALL, Ground::as_str) } } },
                    "records": { "type": "array", "items": { "type": "object" } } } },
                "Me": { "type": "object", "properties": { "name": { "type": "string" },
                    "role": names(Role::ALL, Role::as_str), "csrf": { "type": "string" } } },
                "Pass": { "type": "object", "properties": { "id": { "type": "integer" }, "job": { "type": "string" },
                    "status": { "type": "string" }, "started_at": { "type": "string" },
                    "changes_proposed": { "type": "integer" }, "changes_applied": { "type": "integer" } } },
                "PassDetail": { "type": "object", "properties": { "pass": reference("Pass"),
                    "changes_by_status": { "type": "object", "additionalProperties": { "type": "integer" } } } },
                "Change": { "type": "object", "properties": {
                    "id": { "type": "integer" }, "pass_id": { "type": "integer" }, "job": { "type": "string" },
                    "record_id": { "type": "string" }, "field": { "type": "string" }, "kind": { "type": "string" },
                    "old_value": { "type": ["string", "null"] }, "new_value": { "type": ["string", "null"] },
                    "status": { "type": "string" }, "score": { "type": "number" },
                    "decided_by": { "type": ["string", "null"] } } },
                "ChangePage": { "type": "object", "required": ["total", "offset", "limit", "items"], "properties": {
                    "total": { "type": "integer" }, "offset": { "type": "integer" }, "limit": { "type": "integer" },
                    "items": array_of(reference("Change")),
                    "by_status": { "type": "object", "additionalProperties": { "type": "integer" } },
                    "by_field": { "type": "object", "additionalProperties": { "type": "integer" } } } },
                "RecordView": { "type": "object", "properties": {
                    "job": { "type": "string" }, "record_id": { "type": "string" },
                    "status": { "type": ["string", "null"] }, "explanation": {},
                    "match": { "type": ["object", "null"], "properties": { "score": { "type": "number" }, "grade": { "type": "string" } } },
                    "changes": array_of(reference("Change")), "history": array_of(reference("AuditEntry")),
                    "candidates": {} } },
                "DecisionRequest": { "type": "object", "required": ["verdict"], "properties": {
                    "verdict": { "enum": ["approve", "reject", "wrong"] },
                    "ids": array_of(json!({ "type": "integer" })),
                    "filter": { "type": "object", "description": "the filters of GET /api/v1/changes; only proposed changes are decided" },
                    "value": { "type": "string", "description": "approve one change with this value instead" } } },
                "DecisionResult": { "type": "object", "properties": {
                    "decided": array_of(json!({ "type": "object", "properties": {
                        "id": { "type": "integer" }, "status": { "type": "string" },
                        "refused": { "type": ["string", "null"] } } })),
                    "unknown_ids": array_of(json!({ "type": "integer" })) } },
                "Merge": merge_schema(),
                "MergeApplied": { "type": "object", "properties": {
                    "id": { "type": "integer" }, "job": { "type": "string" },
                    "cluster_id": { "type": "string" },
                    "status": names(MergeStatus::ALL, MergeStatus::as_str),
                    "error": { "type": ["string", "null"] } } },
                "AuditEntry": { "type": "object", "properties": {
                    "id": { "type": "integer" }, "at": { "type": "string" }, "actor": { "type": "string" },
                    "action": { "type": "string" }, "change_id": { "type": ["integer", "null"] },
                    "record_id": { "type": "string" }, "hash": { "type": "string" } } }
            }
        }
    });
    if let (Some(schemas), Value::Object(check)) = (
        doc.pointer_mut("/components/schemas")
            .and_then(Value::as_object_mut),
        check_schemas(),
    ) {
        schemas.extend(check);
    }
    doc
}
