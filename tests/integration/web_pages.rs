//! The review UI's pages over HTTP, on both stores: the queue of records (order, card
//! decisions, language) and the duplicates pages (clusters side by side, approve, split,
//! reject, revert), with roles and CSRF through the templates.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::StoreKind;
use crate::web_server::{client, get_json, get_page, login, session_cookie, Server, PASSWORD};

/// POSTs a form with a bearer token (no CSRF needed) or a session cookie.
async fn post_form(
    server: &Server,
    auth: &Auth<'_>,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let request = client().post(server.url(path)).form(form);
    let request = match auth {
        Auth::Token(t) => request.bearer_auth(t),
        Auth::Session(cookie) => request.header("cookie", *cookie),
    };
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

enum Auth<'a> {
    Token(&'a str),
    Session(&'a str),
}

/// The cards of a queue page: (probability shown in the tooltip, change ids in the card).
fn cards(html: &str) -> Vec<(f64, Vec<i64>)> {
    html.split("<section class=\"card\"")
        .skip(1)
        .map(|card| {
            let p = card
                .split("class=\"probability\" title=\"")
                .nth(1)
                .and_then(|t| t.split('"').next())
                .and_then(|t| t.parse().ok())
                .unwrap_or(f64::NAN);
            let ids = card
                .split("<tr class=\"change\" id=\"change-")
                .skip(1)
                .map(|t| t.split('"').next().unwrap().parse().unwrap())
                .collect();
            (p, ids)
        })
        .collect()
}

#[tokio::test]
async fn the_queue_lists_records_in_the_order_asked_and_a_card_is_decided_at_once() {
    for kind in StoreKind::both() {
        let name = kind.name();
        let server = Server::start(&kind);
        let (steward, admin) = (server.token("stefan"), server.token("anke"));

        // Most changes first: the cards' sizes never grow down the page.
        let (status, html) = get_page(&server, &steward, "/queue").await;
        assert_eq!(status, StatusCode::OK, "{name}");
        let most = cards(&html);
        assert!(most.len() > 5, "{name}: {html}");
        let sizes: Vec<usize> = most.iter().map(|(_, ids)| ids.len()).collect();
        assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{name}: {sizes:?}");
        assert!(sizes[0] > 1, "{name}: a record with several changes leads");

        // Lowest confidence first: the probabilities never fall down the page.
        let (_, html) = get_page(&server, &steward, "/queue?order=doubt").await;
        let doubt: Vec<f64> = cards(&html).iter().map(|(p, _)| *p).collect();
        assert!(doubt.iter().all(|p| p.is_finite()), "{name}: {doubt:?}");
        assert!(doubt.windows(2).all(|w| w[0] <= w[1]), "{name}: {doubt:?}");
        let (status, html) = get_page(&server, &steward, "/queue?order=sideways").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert!(html.contains("order `sideways` is not one of"), "{name}");

        // A search shows the records whose proposed changes hold the text, every such
        // change in its card, the records counted as the API finds their changes; in the
        // order asked. Every other page of the queue is answered by the indexes, a search by
        // one scan: both must agree.
        let found = get_json(
            &server,
            &admin,
            "/api/v1/changes?status=proposed&text=GmbH&limit=500",
        )
        .await;
        let items = found["items"].as_array().unwrap();
        assert!(!items.is_empty(), "{name}: the demo has GmbH values");
        assert_eq!(found["total"].as_u64(), Some(items.len() as u64), "{name}");
        let want: std::collections::BTreeSet<i64> =
            items.iter().map(|c| c["id"].as_i64().unwrap()).collect();
        let records: std::collections::BTreeSet<(&str, &str)> = items
            .iter()
            .map(|c| (c["job"].as_str().unwrap(), c["record_id"].as_str().unwrap()))
            .collect();
        for order in ["most", "doubt", "oldest"] {
            let (status, html) = get_page(
                &server,
                &steward,
                &format!("/queue?text=gmbh&order={order}"),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{name} {order}");
            let shown = cards(&html);
            assert!(
                html.contains(&format!(" von {} Datensätze angezeigt", records.len())),
                "{name} {order}: {} records",
                records.len()
            );
            let got: std::collections::BTreeSet<i64> =
                shown.iter().flat_map(|(_, ids)| ids.clone()).collect();
            assert!(got.is_subset(&want), "{name} {order}");
            if records.len() <= shown.len() {
                assert_eq!(got, want, "{name} {order}");
            }
            let sizes: Vec<usize> = shown.iter().map(|(_, ids)| ids.len()).collect();
            let doubt: Vec<f64> = shown.iter().map(|(p, _)| *p).collect();
            let firsts: Vec<i64> = shown.iter().map(|(_, ids)| ids[0]).collect();
            let sorted = match order {
                "most" => sizes.windows(2).all(|w| w[0] >= w[1]),
                "doubt" => doubt.windows(2).all(|w| w[0] <= w[1]),
                _ => firsts.windows(2).all(|w| w[0] < w[1]),
            };
            assert!(sorted, "{name} {order}: {sizes:?} {doubt:?} {firsts:?}");
        }

        // One request rejects every change of a card, and only those.
        let (_, ids) = &most[0];
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let open = || {
            let (server, admin) = (&server, &admin);
            async move {
                get_json(server, admin, "/api/v1/changes?status=proposed&limit=1").await["total"]
                    .as_i64()
                    .unwrap()
            }
        };
        let before = open().await;
        let (status, html) = post_form(
            &server,
            &Auth::Token(&steward),
            "/decide",
            &[("verdict", "reject"), ("ids", &list)],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}: {html}");
        assert!(
            html.contains(&format!("{} Änderung(en) entschieden", ids.len())),
            "{name}"
        );
        for id in ids {
            let change = get_json(&server, &admin, &format!("/api/v1/changes/{id}")).await;
            assert_eq!(change["status"], "rejected", "{name}: {change}");
        }
        assert_eq!(open().await, before - ids.len() as i64, "{name}");
        let (status, _) = post_form(
            &server,
            &Auth::Token(&steward),
            "/decide",
            &[("verdict", "reject"), ("ids", "1,x")],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");

        // An unknown language falls back to German; English on asking.
        for (query, lang, word) in [
            ("?lang=xx", "de", "Prüfliste"),
            ("?lang=en", "en", "Review queue"),
        ] {
            let (_, html) = get_page(&server, &steward, &format!("/queue{query}")).await;
            assert!(
                html.contains(&format!("<html lang=\"{lang}\">")),
                "{name} {query}"
            );
            assert!(html.contains(word), "{name} {query}");
        }
    }
}

#[tokio::test]
async fn stewards_decide_merges_of_duplicates_side_by_side_and_admins_revert_them() {
    for kind in StoreKind::both() {
        let name = kind.name();
        let server = Server::start_with(&kind, crate::duplicates::enabled);
        let (viewer, steward, admin) = (
            server.token("vera"),
            server.token("stefan"),
            server.token("anke"),
        );
        let proposed = get_json(&server, &admin, "/api/v1/duplicates").await;
        let merges = proposed.as_array().unwrap();
        assert!(
            merges.len() >= 3,
            "{name}: the demo has duplicates: {proposed}"
        );
        let id = |i: usize| merges[i]["id"].as_i64().unwrap();
        let status_of = |i: i64| {
            let (server, admin) = (&server, &admin);
            async move {
                get_json(server, admin, &format!("/api/v1/duplicates/{i}")).await["status"].clone()
            }
        };

        // A viewer reads the list and a cluster, with the survivor and golden values, and
        // no decision forms.
        let (status, html) = get_page(&server, &viewer, "/duplicates").await;
        assert_eq!(status, StatusCode::OK, "{name}");
        for m in merges {
            assert!(
                html.contains(&format!("id=\"merge-{}\"", m["id"])),
                "{name}"
            );
        }
        let (status, html) = get_page(&server, &viewer, &format!("/duplicates/{}", id(0))).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        let survivor = merges[0]["golden"]["survivor"].as_str().unwrap();
        assert!(html.contains("id=\"cluster\""), "{name}");
        assert!(
            html.contains(&format!("id=\"member-{survivor}\"")),
            "{name}"
        );
        for member in merges[0]["members"].as_array().unwrap() {
            let member = member.as_str().unwrap();
            assert!(
                html.contains(&format!("id=\"member-{member}\"")),
                "{name}: {member}"
            );
        }
        assert!(
            html.contains("(bleibt)") && html.contains("Firmenname"),
            "{name}"
        );
        assert!(
            !html.contains("/decide"),
            "{name}: a viewer has no decision forms"
        );
        let (status, _) = post_form(
            &server,
            &Auth::Token(&viewer),
            &format!("/duplicates/{}/decide", id(0)),
            &[("verdict", "approve")],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");

        // A steward's session needs the CSRF token.
        let cookie = session_cookie(&login(&server, "stefan", PASSWORD).await);
        let (status, _) = post_form(
            &server,
            &Auth::Session(&cookie),
            &format!("/duplicates/{}/decide", id(0)),
            &[("verdict", "approve"), ("csrf", &"0".repeat(64))],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        assert_eq!(status_of(id(0)).await, "proposed", "{name}");

        // Approve one, split one, reject one; a verdict that is none is refused.
        let members: Vec<String> = merges[1]["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_string())
            .collect();
        for (i, form) in [
            (0, vec![("verdict", "approve")]),
            (
                1,
                vec![("verdict", "split"), ("records", members[1].as_str())],
            ),
            (2, vec![("verdict", "reject")]),
        ] {
            let (status, body) = post_form(
                &server,
                &Auth::Token(&steward),
                &format!("/duplicates/{}/decide", id(i)),
                &form,
            )
            .await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{name}: {form:?}: {body}");
        }
        assert_eq!(status_of(id(0)).await, "approved", "{name}");
        assert_eq!(status_of(id(1)).await, "rejected", "{name}");
        assert_eq!(status_of(id(2)).await, "rejected", "{name}");
        let audit = get_json(&server, &admin, "/api/v1/audit?actor=stefan").await;
        assert!(audit.to_string().contains("merge_split"), "{name}: {audit}");
        let (status, _) = post_form(
            &server,
            &Auth::Token(&steward),
            &format!("/duplicates/{}/decide", id(0)),
            &[("verdict", "maybe")],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");

        // Written to the CRM (`refsync duplicates apply`), then reverted by an admin from
        // the page.
        server
            .sb
            .ok(&["duplicates", "apply", "--job", "organisations"]);
        assert_eq!(status_of(id(0)).await, "applied", "{name}");
        let (status, _) = post_form(
            &server,
            &Auth::Token(&steward),
            &format!("/duplicates/{}/revert", id(0)),
            &[("csrf", "")],
        )
        .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{name}: stewards do not revert"
        );
        let (status, html) = post_form(
            &server,
            &Auth::Token(&admin),
            &format!("/duplicates/{}/revert", id(0)),
            &[("csrf", "")],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}: {html}");
        assert!(
            html.contains("Zusammenführung rückgängig gemacht."),
            "{name}"
        );
        assert_eq!(status_of(id(0)).await, "reverted", "{name}");
        let _: Value = get_json(&server, &admin, "/api/v1/duplicates?status=all").await;
    }
}

#[tokio::test]
async fn stewards_judge_matches_on_the_record_page_and_the_tune_page_sends_them_there() {
    for kind in StoreKind::both() {
        let name = kind.name();
        let server = Server::start(&kind);
        let (viewer, steward, admin) = (
            server.token("vera"),
            server.token("stefan"),
            server.token("anke"),
        );
        // The tune page lists the matches in the review band no one has judged.
        let (status, html) = get_page(&server, &admin, "/admin/tune?job=organisations").await;
        assert_eq!(status, StatusCode::OK, "{name}");
        let waiting: Vec<String> = html
            .split("id=\"unjudged\"")
            .nth(1)
            .unwrap_or("")
            .split("href=\"/records/organisations/")
            .skip(1)
            .map(|t| t.split('#').next().unwrap().to_string())
            .collect();
        assert!(
            !waiting.is_empty(),
            "{name}: the demo has matches to judge: {html}"
        );
        let record = &waiting[0];
        let page = format!("/records/organisations/{record}");
        let (_, html) = get_page(&server, &steward, &page).await;
        assert!(html.contains("Noch kein Urteil"), "{name}");
        assert!(html.contains("id=\"confirmed-match\""), "{name}");

        // Viewers and forged session forms are refused; nothing is stored.
        let path = format!("{page}/verdict");
        let (status, _) = post_form(
            &server,
            &Auth::Token(&viewer),
            &path,
            &[("verdict", "confirmed")],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        let cookie = session_cookie(&login(&server, "stefan", PASSWORD).await);
        let (status, _) = post_form(
            &server,
            &Auth::Session(&cookie),
            &path,
            &[("verdict", "confirmed")],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        let (_, html) = get_page(&server, &steward, &page).await;
        assert!(html.contains("Noch kein Urteil"), "{name}");

        // A register record that is neither the match nor a candidate is refused by name.
        let (status, html) = post_form(
            &server,
            &Auth::Token(&steward),
            &path,
            &[("verdict", "confirmed"), ("register", "NOT-A-CANDIDATE")],
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{name}");
        assert!(html.contains("NOT-A-CANDIDATE"), "{name}: {html}");

        // The steward confirms the match: the page says so, the tune page stops listing it
        // and the audit log has it.
        let (status, _) = post_form(
            &server,
            &Auth::Token(&steward),
            &path,
            &[("verdict", "confirmed")],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name}");
        let (_, html) = get_page(&server, &steward, &page).await;
        let verdicts = html.split("id=\"verdicts\"").nth(1).unwrap_or("");
        assert!(
            verdicts.contains("bestätigt") && verdicts.contains("stefan"),
            "{name}: {html}"
        );
        let (_, html) = get_page(&server, &admin, "/admin/tune?job=organisations").await;
        assert!(
            !html.contains(&format!("href=\"{page}#match\"")),
            "{name}: judged, yet still listed"
        );
        let audit = get_json(&server, &admin, "/api/v1/audit?actor=stefan").await;
        assert!(
            audit.to_string().contains("match_confirmed"),
            "{name}: {audit}"
        );
    }
}

#[tokio::test]
async fn a_steward_names_another_candidate_as_the_right_one() {
    for kind in StoreKind::both() {
        let name = kind.name();
        let server = Server::start(&kind);
        let (steward, admin) = (server.token("stefan"), server.token("anke"));
        // A record whose last pass kept candidates: an ambiguous one, or one not found with
        // its best candidate.
        let mut found = None;
        for id in 1..=400 {
            let (status, text) = get_page(
                &server,
                &admin,
                &format!("/api/v1/records/organisations/{id}"),
            )
            .await;
            if status != StatusCode::OK {
                continue;
            }
            let view: Value = serde_json::from_str(&text).unwrap();
            let kept = view["explanation"]["candidates"]
                .as_array()
                .and_then(|c| c.last())
                .or(view["explanation"]["best"].get("candidate"));
            if let Some(candidate) = kept {
                found = Some((id, candidate["register_id"].as_str().unwrap().to_string()));
                break;
            }
        }
        let (id, register) = found.expect("the demo has a record with candidates kept");
        let page = format!("/records/organisations/{id}");
        let (_, html) = get_page(&server, &steward, &page).await;
        assert!(
            html.contains(&format!("id=\"confirmed-{register}\"")),
            "{name}: a button naming the candidate: {html}"
        );
        let (status, body) = post_form(
            &server,
            &Auth::Token(&steward),
            &format!("{page}/verdict"),
            &[("verdict", "confirmed"), ("register", &register)],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name}: {body}");
        let (_, html) = get_page(&server, &steward, &page).await;
        let verdicts = html.split("id=\"verdicts\"").nth(1).unwrap_or("");
        assert!(
            verdicts.contains(&register) && verdicts.contains("bestätigt"),
            "{name}: {html}"
        );
    }
}
