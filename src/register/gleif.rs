//! The GLEIF LEI API (JSON:API, CC0 data, 60 requests/minute). A CRM record is looked up
//! by its LEI (batched, one request per page of LEIs), else by register number + register
//! court (German courts map to GLEIF registration authority codes), else by name
//! (`filter[entity.legalName]` and `fuzzycompletions`), narrowed by country and city.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use futures_util::future::join_all;
use serde_json::Value;
use tracing::{debug, info};

use super::courts::{fold, Courts};
use super::http::{HttpClient, RegisterStats, Request};
use super::{BoxFuture, Lookup, Register, RegisterError};
use crate::config::GleifConfig;
use crate::domain::model::{EntityKind, Field, Record};
use crate::domain::validate;
use crate::store::Store;

/// Candidates from a fuzzy name search that are fetched in full.
const FUZZY_LIMIT: usize = 10;

pub struct GleifRegister {
    name: String,
    base: reqwest::Url,
    config: GleifConfig,
    http: HttpClient,
    courts: Courts,
    /// ELF code → label, read once per pass.
    legal_forms: Mutex<HashMap<String, Option<String>>>,
}

impl GleifRegister {
    pub fn new(
        name: &str,
        config: &GleifConfig,
        store: Option<Store>,
    ) -> Result<GleifRegister, RegisterError> {
        let bad = |problem: String| RegisterError::BadData {
            register: name.to_string(),
            problem,
        };
        let base = config.base_url.trim_end_matches('/').to_string() + "/";
        let base = reqwest::Url::parse(&base)
            .map_err(|e| bad(format!("base_url `{}`: {e}", config.base_url)))?;
        let key = config
            .http
            .api_key(&|var| std::env::var(var).ok())
            .map_err(bad)?;
        for court in config.courts.keys() {
            if !Courts::load(&BTreeMap::new())
                .code_of
                .contains_key(&fold(court))
            {
                return Err(bad(format!("[register.{name}.courts]: `{court}` is not a German register court; use a name or XJustiz code from data/registergerichte_handelsregister_de_2021-08-13.csv")));
            }
        }
        Ok(GleifRegister {
            name: name.to_string(),
            base,
            config: config.clone(),
            http: HttpClient::new(name, &config.http, key, store)?,
            courts: Courts::load(&config.courts),
            legal_forms: Mutex::new(HashMap::new()),
        })
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> reqwest::Url {
        let mut url = self.base.join(path).unwrap_or_else(|_| self.base.clone());
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    fn not_the_api(&self) -> RegisterError {
        self.http.unavailable(
            "lei-records answered 404; check base_url (GLEIF's is https://api.gleif.org/api/v1)",
        )
    }

    /// One record asked for, to see that base_url is a GLEIF API that answers.
    async fn probe(&self) -> Result<Vec<String>, RegisterError> {
        let url = self.url("lei-records", &[("page[size]", "1")]);
        self.http
            .fetch(&Request::Get(url), |answer| {
                self.data(answer.ok_or_else(|| self.not_the_api())?)
            })
            .await?;
        Ok(vec!["the API answers".to_string()])
    }

    fn bad_answer(&self, what: &str) -> RegisterError {
        self.http.unavailable(format!(
            "unexpected answer: {what}; is base_url a GLEIF API v1?"
        ))
    }

    /// The `data` list of a JSON:API answer.
    fn data(&self, body: &Value) -> Result<Vec<Value>, RegisterError> {
        body.get("data")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| self.bad_answer("no `data` list"))
    }

    /// Reads `data` of a JSON:API list answer and follows `links.next` up to `max_pages`.
    async fn list(&self, first: reqwest::Url) -> Result<Vec<Value>, RegisterError> {
        let mut out = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            let page = self
                .http
                .fetch(&Request::Get(url), |answer| {
                    // No match is a 200 with an empty list; a 404 is a wrong base_url.
                    let body = answer.ok_or_else(|| self.not_the_api())?;
                    let next = body.pointer("/links/next").and_then(Value::as_str);
                    Ok((self.data(body)?, next.map(str::to_string)))
                })
                .await?;
            let (data, link) = page;
            out.extend(data);
            if pages < self.config.max_pages {
                next = link
                    .and_then(|n| reqwest::Url::parse(&n).ok())
                    .map(|n| self.rebase(n));
            }
        }
        Ok(out)
    }

    /// GLEIF's `next` links name its own host; keep the configured base (a proxy, a test
    /// server) and take only the path's tail and the query from the link.
    fn rebase(&self, link: reqwest::Url) -> reqwest::Url {
        let tail = link.path().rsplit('/').next().unwrap_or("lei-records");
        let mut url = self.url(tail, &[]);
        url.set_query(link.query());
        url
    }

    /// LEI records by LEI, one request per page of LEIs; cached per LEI, and an expired
    /// entry is only fetched again when GLEIF's `lastUpdateDate` has moved.
    async fn by_lei(
        &self,
        leis: &BTreeSet<String>,
    ) -> Result<HashMap<String, Value>, RegisterError> {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        let mut stale: Vec<(String, Value, String)> = Vec::new();
        for lei in leis {
            match self.http.cache_get(&lei_key(lei)).await {
                Some(entry) => match serde_json::from_str::<Value>(&entry.body) {
                    Ok(v) if entry.fresh => {
                        self.http.count_cache_hit();
                        found.insert(lei.clone(), v);
                    }
                    Ok(v) => match entry.last_update {
                        Some(date) => stale.push((lei.clone(), v, date)),
                        None => missing.push(lei.clone()),
                    },
                    Err(_) => missing.push(lei.clone()),
                },
                None => missing.push(lei.clone()),
            }
        }
        for chunk in stale.chunks(self.config.page_size as usize) {
            let since = chunk
                .iter()
                .map(|(_, _, d)| d.as_str())
                .min()
                .unwrap_or_default();
            let ids: Vec<&str> = chunk.iter().map(|(l, _, _)| l.as_str()).collect();
            let changed = self.fetch_leis(&ids, Some(since)).await?;
            for (lei, cached, date) in chunk {
                match changed.get(lei) {
                    Some(fresh) if last_update(fresh).as_deref() != Some(date.as_str()) => {
                        self.remember(fresh).await;
                        found.insert(lei.clone(), fresh.clone());
                    }
                    _ => {
                        self.http.cache_renew(&lei_key(lei)).await;
                        found.insert(lei.clone(), cached.clone());
                    }
                }
            }
        }
        for chunk in missing.chunks(self.config.page_size as usize) {
            let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
            for (lei, record) in self.fetch_leis(&ids, None).await? {
                self.remember(&record).await;
                found.insert(lei, record);
            }
        }
        Ok(found)
    }

    async fn remember(&self, record: &Value) {
        if let Some(lei) = record.pointer("/attributes/lei").and_then(Value::as_str) {
            self.http
                .cache_put(&lei_key(lei), record.to_string(), last_update(record))
                .await;
        }
    }

    async fn fetch_leis(
        &self,
        leis: &[&str],
        changed_since: Option<&str>,
    ) -> Result<HashMap<String, Value>, RegisterError> {
        let joined = leis.join(",");
        let size = leis.len().to_string();
        let mut query = vec![
            ("filter[lei]", joined.as_str()),
            ("page[size]", size.as_str()),
        ];
        // GLEIF filters dates by day (YYYYMMDD): `>=` the oldest cached date returns every
        // record that may have changed; each is then compared with its own cached date.
        let since =
            changed_since.map(|d| format!(">={}", d.get(..10).unwrap_or(d).replace('-', "")));
        if let Some(since) = &since {
            query.push(("filter[registration.lastUpdateDate]", since));
        }
        let url = self.url("lei-records", &query);
        // One page holds the whole chunk, so `list` reads no further pages.
        self.http
            .fetch(&Request::Get(url), |answer| {
                let data = answer.map(|b| self.data(b)).transpose()?;
                data.into_iter()
                    .flatten()
                    .map(|r| match lei_of(&r) {
                        Some(lei) => Ok((lei, r)),
                        None => Err(self.bad_answer("an LEI record without `attributes.lei`")),
                    })
                    .collect()
            })
            .await
    }

    /// Records registered under `number` (e.g. `HRB 7042`), at `court` where known.
    async fn by_register_number(&self, record: &Record) -> Result<Vec<Value>, RegisterError> {
        let Some(number) = record
            .get(Field::RegisterNumber)
            .and_then(validate::register_number)
        else {
            return Ok(Vec::new());
        };
        let canonical = number;
        let court = record
            .get(Field::RegisterCourt)
            .and_then(|c| self.courts.code(c));
        let ra = court.and_then(|c| self.courts.ra_of.get(c));
        let mut query = vec![("filter[entity.registeredAs]", canonical.as_str())];
        if let Some(ra) = ra {
            query.push(("filter[entity.registeredAt.id]", ra.as_str()));
        } else {
            query.push(("filter[entity.legalAddress.country]", "DE"));
        }
        let size = self.config.page_size.to_string();
        query.push(("page[size]", &size));
        let found = self.list(self.url("lei-records", &query)).await?;
        // Without an RA code the same number at another court may come back: keep those
        // whose court (from GLEIF's `ocid` or RA code) is the CRM's court.
        Ok(match (court, ra) {
            (Some(code), None) => found
                .into_iter()
                .filter(|r| self.court_code(r).is_none_or(|c| &c == code))
                .collect(),
            _ => found,
        })
    }

    /// Name search: exact-ish filter and GLEIF's fuzzy completions, narrowed by country
    /// and city when the CRM has them.
    async fn by_name(&self, record: &Record) -> Result<Vec<Value>, RegisterError> {
        let Some(name) = record.get(Field::LegalName) else {
            return Ok(Vec::new());
        };
        let country = record.get(Field::Country).and_then(country_code);
        let city = record.get(Field::City);
        let size = self.config.page_size.to_string();
        let mut query = vec![
            ("filter[entity.legalName]", name),
            ("page[size]", size.as_str()),
        ];
        if let Some(c) = &country {
            query.push(("filter[entity.legalAddress.country]", c.as_str()));
        }
        if let Some(city) = city {
            query.push(("filter[entity.legalAddress.city]", city));
        }
        let mut found = self.list(self.url("lei-records", &query)).await?;
        let fuzzy = self
            .http
            .fetch(
                &Request::Get(self.url(
                    "fuzzycompletions",
                    &[("field", "entity.legalName"), ("q", name)],
                )),
                |answer| Ok(answer.cloned()),
            )
            .await?;
        let known: BTreeSet<String> = found.iter().filter_map(lei_of).collect();
        let leis: BTreeSet<String> = fuzzy
            .as_ref()
            .and_then(|f| f.get("data"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.pointer("/relationships/lei-records/data/id")?.as_str())
            .filter_map(validate::lei)
            .filter(|l| !known.contains(l))
            .take(FUZZY_LIMIT)
            .collect();
        if !leis.is_empty() {
            let records = self.by_lei(&leis).await?;
            found.extend(
                leis.iter()
                    .filter_map(|l| records.get(l).cloned())
                    .filter(|r| {
                        let attr = |p: &str| r.pointer(p).and_then(Value::as_str);
                        let same_country = country.as_deref().is_none_or(|c| {
                            attr("/attributes/entity/legalAddress/country") == Some(c)
                                || attr("/attributes/entity/headquartersAddress/country") == Some(c)
                        });
                        let same_city = city.is_none_or(|c| {
                            [
                                "/attributes/entity/legalAddress/city",
                                "/attributes/entity/headquartersAddress/city",
                            ]
                            .iter()
                            .any(|p| attr(p).is_some_and(|v| fold(v) == fold(c)))
                        });
                        same_country && same_city
                    }),
            );
        }
        Ok(found)
    }

    /// The XJustiz court code of a German record: from `ocid` (`de/M1201_HRB7042`) or
    /// from its RA code.
    fn court_code(&self, record: &Value) -> Option<String> {
        let attrs = record.get("attributes")?;
        if let Some(code) = attrs
            .get("ocid")
            .and_then(Value::as_str)
            .and_then(|o| o.strip_prefix("de/"))
            .and_then(|o| o.split('_').next())
        {
            return Some(code.to_string());
        }
        let ra = attrs.pointer("/entity/registeredAt/id")?.as_str()?;
        self.courts.code_of_ra.get(ra).cloned()
    }

    async fn legal_form_label(&self, code: &str, language: Option<&str>) -> Option<String> {
        if let Some(known) = self.lock_forms().get(code) {
            return known.clone();
        }
        let url = self.url(&format!("entity-legal-forms/{code}"), &[]);
        // A 404 is an answer here: GLEIF has no such legal form.
        let label = match self
            .http
            .fetch(&Request::Get(url), |answer| {
                Ok(answer.and_then(|body| elf_label(body, language)))
            })
            .await
        {
            Ok(label) => label,
            // The label is a nicety; the code is mapped either way.
            Err(e) => {
                debug!(register = %self.name, code, error = %e, "no legal form label");
                return None;
            }
        };
        self.lock_forms().insert(code.to_string(), label.clone());
        label
    }

    fn lock_forms(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<String>>> {
        self.legal_forms.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn to_record(&self, value: &Value) -> Result<Record, RegisterError> {
        let mut record = map_record(value)
            .ok_or_else(|| self.bad_answer("an LEI record without `attributes.lei`"))?;
        if let Some(code) = self.court_code(value) {
            if let Some(name) = self.courts.name_of.get(&code) {
                record.values.insert(Field::RegisterCourt, name.clone());
            }
        }
        if let Some(code) = record.get(Field::LegalFormCode).map(str::to_string) {
            let language = value
                .pointer("/attributes/entity/legalName/language")
                .and_then(Value::as_str);
            if let Some(label) = self.legal_form_label(&code, language).await {
                record.values.insert(Field::LegalForm, label);
            }
        }
        Ok(record)
    }

    async fn lookup_one(&self, record: &Record, by_lei: &HashMap<String, Value>) -> Lookup {
        let mut raw: Vec<Value> = Vec::new();
        if let Some(lei) = record.get(Field::Lei).and_then(validate::lei) {
            raw.extend(by_lei.get(&lei).cloned());
        }
        if raw.is_empty() {
            raw = self.by_register_number(record).await?;
        }
        if raw.is_empty() {
            raw = self.by_name(record).await?;
        }
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for value in raw {
            if lei_of(&value).is_some_and(|l| seen.insert(l)) {
                out.push(self.to_record(&value).await?);
            }
        }
        Ok(out)
    }
}

fn lei_key(lei: &str) -> String {
    format!("lei-record {lei}")
}

fn lei_of(record: &Value) -> Option<String> {
    record
        .pointer("/attributes/lei")?
        .as_str()
        .map(str::to_string)
}

fn last_update(record: &Value) -> Option<String> {
    record
        .pointer("/attributes/registration/lastUpdateDate")?
        .as_str()
        .map(str::to_string)
}

/// ISO 3166 alpha-2 from what CRMs hold: `DE`, `de`, `Deutschland`, `Germany`.
fn country_code(raw: &str) -> Option<String> {
    let folded = crate::domain::normalise::fold_text(raw);
    let code = match folded.as_str() {
        "deutschland" | "germany" | "bundesrepublik deutschland" => "DE",
        "osterreich" | "oesterreich" | "austria" => "AT",
        "schweiz" | "switzerland" => "CH",
        "frankreich" | "france" => "FR",
        "niederlande" | "netherlands" => "NL",
        "vereinigtes konigreich" | "united kingdom" | "uk" | "grossbritannien" => "GB",
        "usa" | "united states" | "vereinigte staaten" => "US",
        s if s.len() == 2 && s.chars().all(|c| c.is_ascii_alphabetic()) => {
            return Some(s.to_ascii_uppercase())
        }
        _ => return None,
    };
    Some(code.to_string())
}

fn elf_label(body: &Value, language: Option<&str>) -> Option<String> {
    let names = body.pointer("/data/attributes/names")?.as_array()?;
    let pick = names
        .iter()
        .find(|n| language.is_some() && n.get("languageCode").and_then(Value::as_str) == language)
        .or_else(|| names.first())?;
    pick.get("localName")?.as_str().map(str::to_string)
}

/// Maps one GLEIF LEI record (`data[i]` of an answer) to canonical fields; the register
/// court and the legal form label need lookups and are added by the caller.
pub fn map_record(value: &Value) -> Option<Record> {
    let a = value.get("attributes")?;
    let lei = a.get("lei")?.as_str()?;
    let e = a.get("entity")?;
    let s = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    };
    let mut r = Record::new(lei);
    let mut set = |field: Field, value: Option<String>| {
        if let Some(v) = value {
            r.values.insert(field, v);
        }
    };
    set(Field::Lei, Some(lei.to_string()));
    set(Field::LegalName, s(e.pointer("/legalName/name")));
    let names = |previous: bool| -> Option<String> {
        let list: Vec<String> = e
            .get("otherNames")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .chain(
                e.get("transliteratedOtherNames")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|_| !previous),
            )
            .filter(|n| {
                (n.get("type").and_then(Value::as_str) == Some("PREVIOUS_LEGAL_NAME")) == previous
            })
            .filter_map(|n| s(n.get("name")))
            .collect();
        (!list.is_empty()).then(|| list.join(" | "))
    };
    set(Field::OtherNames, names(false));
    set(Field::PreviousNames, names(true));
    let street = |addr: &Value| -> Option<String> {
        let lines: Vec<String> = addr
            .get("addressLines")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| s(Some(l)))
            .collect();
        (!lines.is_empty()).then(|| lines.join(", "))
    };
    if let Some(addr) = e.get("legalAddress") {
        set(Field::Street, street(addr));
        set(Field::HouseNumber, s(addr.get("addressNumber")));
        set(Field::Postcode, s(addr.get("postalCode")));
        set(Field::City, s(addr.get("city")));
        set(Field::Country, s(addr.get("country")));
    }
    if let Some(addr) = e.get("headquartersAddress") {
        set(Field::HqStreet, street(addr));
        set(Field::HqPostcode, s(addr.get("postalCode")));
        set(Field::HqCity, s(addr.get("city")));
        set(Field::HqCountry, s(addr.get("country")));
    }
    let form_code = s(e.pointer("/legalForm/id"));
    if form_code.is_none() {
        // No ELF code: GLEIF then has the form as free text in `other`.
        set(Field::LegalForm, s(e.pointer("/legalForm/other")));
    }
    set(Field::LegalFormCode, form_code);
    set(Field::Status, s(e.get("status")).map(|v| v.to_lowercase()));
    let successor = e
        .get("successorEntity")
        .filter(|v| {
            v.get("lei").is_some_and(|l| !l.is_null())
                || v.get("name").is_some_and(|n| !n.is_null())
        })
        .or_else(|| e.pointer("/successorEntities/0"));
    if let Some(succ) = successor {
        set(Field::SuccessorLei, s(succ.get("lei")));
        set(Field::SuccessorName, s(succ.get("name")));
    }
    set(Field::RegisterNumber, s(e.get("registeredAs")));
    set(
        Field::RegisterUpdated,
        s(a.pointer("/registration/lastUpdateDate")),
    );
    Some(r)
}

impl Register for GleifRegister {
    fn name(&self) -> &str {
        &self.name
    }

    fn stats(&self) -> RegisterStats {
        self.http.stats()
    }

    fn check(&self) -> BoxFuture<'_, Result<Vec<String>, RegisterError>> {
        Box::pin(self.probe())
    }

    fn candidates<'a>(
        &'a self,
        kind: EntityKind,
        records: &'a [Record],
    ) -> BoxFuture<'a, Vec<Lookup>> {
        Box::pin(async move {
            if kind != EntityKind::Organisation {
                let e = RegisterError::BadData {
                    register: self.name.clone(),
                    problem: "GLEIF holds organisations only; use it in organisation jobs".into(),
                };
                return records.iter().map(|_| Err(e.clone())).collect();
            }
            let leis: BTreeSet<String> = records
                .iter()
                .filter_map(|r| r.get(Field::Lei).and_then(validate::lei))
                .collect();
            // Without the LEI batch, records with an LEI cannot be decided this pass; the
            // others are still looked up by register number and name.
            let (by_lei, lei_failure) = match self.by_lei(&leis).await {
                Ok(found) => (found, None),
                Err(e) => (HashMap::new(), Some(e)),
            };
            let (by_lei, lei_failure) = (&by_lei, &lei_failure);
            let out = join_all(records.iter().map(|r| async move {
                match (lei_failure, r.get(Field::Lei).and_then(validate::lei)) {
                    (Some(e), Some(_)) => Err(e.clone()),
                    _ => self.lookup_one(r, by_lei).await,
                }
            }))
            .await;
            let stats = self.http.stats();
            info!(
                register = %self.name,
                records = records.len(),
                requests = stats.requests,
                cache_hits = stats.cache_hits,
                retries = stats.retries,
                rate_limit_waits = stats.rate_limit_waits,
                "register batch done"
            );
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/gleif/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).unwrap()
    }

    #[test]
    fn valid_leis_are_the_only_ones_looked_up() {
        assert_eq!(
            validate::lei("5299001ERX0K10IZUL40").as_deref(),
            Some("5299001ERX0K10IZUL40")
        );
        assert_eq!(validate::lei("5299001ERX0K10IZUL41"), None);
    }

    #[test]
    fn maps_a_german_record() {
        let r =
            map_record(&fixture("single_lei_record_5299001ERX0K10IZUL40.json")["data"]).unwrap();
        let get = |f| r.get(f);
        assert_eq!(
            get(Field::LegalName),
            Some("Fraport AG Frankfurt Airport Services Worldwide")
        );
        assert_eq!(get(Field::Street), Some("Flughafen,Geb. 178"));
        assert_eq!(get(Field::Postcode), Some("60547"));
        assert_eq!(get(Field::City), Some("Frankfurt am Main"));
        assert_eq!(get(Field::Country), Some("DE"));
        assert_eq!(get(Field::HqCity), Some("Frankfurt am Main"));
        assert_eq!(get(Field::LegalFormCode), Some("6QQB"));
        assert_eq!(get(Field::Status), Some("active"));
        assert_eq!(get(Field::RegisterNumber), Some("HRB 7042"));
        assert_eq!(get(Field::RegisterUpdated), Some("2025-04-09T08:12:40Z"));
        assert_eq!(get(Field::SuccessorLei), None);
    }

    #[test]
    fn maps_previous_names_apart_from_other_names() {
        let r =
            map_record(&fixture("single_lei_record_254900LNRYNOQ9YPU758.json")["data"]).unwrap();
        let previous = r.get(Field::PreviousNames).unwrap();
        assert!(
            previous.contains("AMAZON VIDEO LIMITED") && previous.contains("LOVEFILM UK LIMITED"),
            "{previous}"
        );
        assert_eq!(r.get(Field::OtherNames), None);
    }

    #[test]
    fn inactive_records_carry_status_and_successor() {
        // A real record, turned into what GLEIF shows after a merger.
        let mut v = fixture("single_lei_record_851WYGNLUQLFZBSYGB56.json")["data"].clone();
        v["attributes"]["entity"]["status"] = "INACTIVE".into();
        v["attributes"]["entity"]["successorEntity"] =
            serde_json::json!({"lei": "5299001ERX0K10IZUL40", "name": "Fraport AG"});
        let r = map_record(&v).unwrap();
        assert_eq!(r.get(Field::Status), Some("inactive"));
        assert_eq!(r.get(Field::SuccessorLei), Some("5299001ERX0K10IZUL40"));
        assert_eq!(r.get(Field::SuccessorName), Some("Fraport AG"));
    }

    #[test]
    fn country_names_become_codes() {
        assert_eq!(country_code("Deutschland").as_deref(), Some("DE"));
        assert_eq!(country_code("de").as_deref(), Some("DE"));
        assert_eq!(country_code("Atlantis"), None);
    }
}
