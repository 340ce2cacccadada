//! EU VIES: is a VAT id registered? (Validity only; Germany returns no name or address.)
//! Transient VIES errors (a member state's service down, timeouts, too many concurrent
//! requests) are `lookup_failed`, never "invalid".

use serde_json::{json, Value};

use super::http::{HttpClient, Request};
use super::RegisterError;
use crate::config::ViesConfig;
use crate::domain::validate::{vat_id, VatCheck};
use crate::store::Store;

/// VIES error codes that say nothing about the VAT id: ask again next pass.
const TRANSIENT: &[&str] = &[
    "MS_UNAVAILABLE",
    "TIMEOUT",
    "SERVICE_UNAVAILABLE",
    "MS_MAX_CONCURRENT_REQ",
    "GLOBAL_MAX_CONCURRENT_REQ",
    "MS_MAX_CONCURRENT_REQ_TIME",
    "GLOBAL_MAX_CONCURRENT_REQ_TIME",
];

pub struct Vies {
    http: HttpClient,
    url: reqwest::Url,
}

impl Vies {
    pub fn new(
        name: &str,
        config: &ViesConfig,
        store: Option<Store>,
    ) -> Result<Vies, RegisterError> {
        let bad = |problem: String| RegisterError::BadData {
            register: name.to_string(),
            problem,
        };
        let base = config.base_url.trim_end_matches('/');
        let url = reqwest::Url::parse(&format!("{base}/check-vat-number"))
            .map_err(|e| bad(format!("base_url `{}`: {e}", config.base_url)))?;
        Ok(Vies {
            http: HttpClient::new(name, &config.http, None, store)?,
            url,
        })
    }

    pub fn stats(&self) -> super::RegisterStats {
        self.http.stats()
    }

    /// `Ok(true)` when VIES confirms `vat` as registered, `Ok(false)` when it says it is
    /// not (or the id is malformed), `Err` when VIES could not tell.
    pub async fn check(&self, vat: &str) -> Result<bool, RegisterError> {
        let VatCheck::Valid(compact) = vat_id(vat) else {
            return Ok(false);
        };
        let (country, number) = compact.split_at(2);
        let body = json!({ "countryCode": country, "vatNumber": number });
        self.http
            .fetch(&Request::PostJson(self.url.clone(), body), |answer| {
                let answer = answer.ok_or_else(|| {
                    self.http
                        .unavailable("check-vat-number answered 404; check base_url")
                })?;
                self.verdict(answer)
            })
            .await
    }

    /// What a VIES answer says of the VAT id; an error answer is `Err` (and not cached).
    fn verdict(&self, answer: &Value) -> Result<bool, RegisterError> {
        if let Some(valid) = answer.get("valid").and_then(Value::as_bool) {
            return Ok(valid);
        }
        let errors: Vec<&str> = answer
            .get("errorWrappers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("error").and_then(Value::as_str))
            .collect();
        if errors.contains(&"INVALID_INPUT") {
            return Ok(false);
        }
        let transient = errors.iter().any(|e| TRANSIENT.contains(e));
        Err(self.http.unavailable(if transient {
            format!(
                "VIES could not check the VAT id now ({}); the next pass asks again",
                errors.join(", ")
            )
        } else if errors.is_empty() {
            "VIES answered without `valid` or an error".to_string()
        } else {
            format!("VIES error {}", errors.join(", "))
        }))
    }
}
