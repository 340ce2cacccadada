//! Whether a contact may be approached with advertising on a channel, by the rules of the
//! German UWG §7: letters need no consent; telephone to a business may rely on presumed
//! consent; telephone to a consumer, e-mail, fax and SMS need a prior, provable opt-in;
//! any revocation wins from its timestamp on. Pure: the caller passes the records.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::model::{snake_names, Field, Record};

/// An advertising channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Letter,
    Phone,
    Email,
    Fax,
    Sms,
}

/// What a consent record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    OptIn,
    /// A revocation or objection.
    OptOut,
    /// Presumed consent (mutmaßliche Einwilligung): telephone to a business contact only.
    Presumed,
    /// Nothing known; recorded to say so explicitly (e.g. an import row without consent).
    None,
}

/// Whether the contact is a business (B2B) or a consumer: the rules differ for telephone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    Business,
    Consumer,
}

snake_names!(Channel { Letter => "letter", Phone => "phone", Email => "email", Fax => "fax", Sms => "sms" });
snake_names!(ConsentStatus { OptIn => "opt_in", OptOut => "opt_out", Presumed => "presumed", None => "none" });
snake_names!(Audience { Business => "business", Consumer => "consumer" });

/// The double opt-in proof an e-mail opt-in needs: when it was asked for, when the person
/// confirmed it, and the text they confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoubleOptIn {
    pub requested_at: NaiveDateTime,
    pub confirmed_at: NaiveDateTime,
    pub confirmed_text: String,
}

/// One consent record, as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub channel: Channel,
    pub status: ConsentStatus,
    /// When the consent was given or revoked (not when refsync learned of it).
    pub at: NaiveDateTime,
    pub source: String,
    pub evidence: Option<DoubleOptIn>,
}

/// The answer for one channel, with the reason in plain words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub channel: Channel,
    pub allowed: bool,
    pub reason: String,
    /// The reason as a kind, so that verdicts can be counted (the data-quality report).
    pub ground: Ground,
}

/// Why a channel is open or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ground {
    OptIn,
    /// Letters need no consent.
    NoConsentNeeded,
    /// Business telephone with presumed consent.
    Presumed,
    Revoked,
    /// An e-mail opt-in without its double opt-in proof.
    OptInWithoutProof,
    /// A business contact without the consent the channel needs.
    NoConsent,
    /// A consumer without the opt-in the channel needs.
    ConsumerWithoutOptIn,
    /// Erased (Art. 17 GDPR): nothing is allowed any more.
    Erased,
}

snake_names!(Ground {
    OptIn => "opt_in",
    NoConsentNeeded => "no_consent_needed",
    Presumed => "presumed",
    Revoked => "revoked",
    OptInWithoutProof => "opt_in_without_proof",
    NoConsent => "no_consent",
    ConsumerWithoutOptIn => "consumer_without_opt_in",
    Erased => "erased",
});

/// Where a record cannot stand as it is: an e-mail opt-in without its double opt-in proof,
/// or presumed consent outside business telephone.
pub fn check(consent: &Consent) -> Result<(), String> {
    match (consent.channel, consent.status, &consent.evidence) {
        (Channel::Phone, ConsentStatus::Presumed, _) => Ok(()),
        (channel, ConsentStatus::Presumed, _) => Err(format!(
            "presumed consent exists for telephone to businesses only, not for {channel}"
        )),
        (Channel::Email, ConsentStatus::OptIn, Some(proof))
            if proof.confirmed_text.trim().is_empty() =>
        {
            Err("the double opt-in proof lacks the text the person confirmed".into())
        }
        (Channel::Email, ConsentStatus::OptIn, Some(proof))
            if proof.confirmed_at < proof.requested_at =>
        {
            Err("the double opt-in was confirmed before it was requested".into())
        }
        _ => Ok(()),
    }
}

/// The verdict for `channel` at time `now`, from all of the contact's records (any order).
/// Records dated after `now` do not count yet.
pub fn verdict(
    channel: Channel,
    audience: Audience,
    records: &[Consent],
    now: NaiveDateTime,
) -> Verdict {
    let mut relevant: Vec<&Consent> = records
        .iter()
        .filter(|c| c.channel == channel && c.at <= now)
        .collect();
    relevant.sort_by_key(|c| c.at);
    let verdict = |ground: Ground, reason: String| Verdict {
        channel,
        allowed: matches!(
            ground,
            Ground::OptIn | Ground::NoConsentNeeded | Ground::Presumed
        ),
        reason,
        ground,
    };
    let when = |c: &Consent| c.at.format("%Y-%m-%d %H:%M").to_string();
    // A revocation wins from its timestamp on: only a newer opt-in can lift it.
    let last_opt_out = relevant
        .iter()
        .rev()
        .find(|c| c.status == ConsentStatus::OptOut);
    let after = |c: &&&Consent| last_opt_out.is_none_or(|o| c.at > o.at);
    let opt_in = relevant
        .iter()
        .rev()
        .filter(after)
        .find(|c| c.status == ConsentStatus::OptIn && check(c).is_ok());
    let proven = opt_in.filter(|c| channel != Channel::Email || c.evidence.is_some());
    if let Some(c) = proven {
        return verdict(
            Ground::OptIn,
            format!("opt-in of {} (source: {})", when(c), c.source),
        );
    }
    if let Some(o) = last_opt_out {
        return verdict(
            Ground::Revoked,
            format!(
                "revoked on {} (source: {}); a revocation wins until a newer opt-in",
                when(o),
                o.source
            ),
        );
    }
    match (channel, audience) {
        (Channel::Letter, _) => verdict(
            Ground::NoConsentNeeded,
            "letters need no consent (UWG §7)".into(),
        ),
        (Channel::Phone, Audience::Business) => {
            match relevant
                .iter()
                .rev()
                .find(|c| c.status == ConsentStatus::Presumed)
            {
                Some(c) => verdict(
                    Ground::Presumed,
                    format!(
                        "business contact with presumed consent of {} (source: {}; UWG §7(2) no. 1)",
                        when(c),
                        c.source
                    ),
                ),
                None => verdict(
                    Ground::NoConsent,
                    "business contact without presumed consent on record; record one or an opt-in"
                        .into(),
                ),
            }
        }
        (Channel::Email, _) if opt_in.is_some() => verdict(
            Ground::OptInWithoutProof,
            "the e-mail opt-in has no double opt-in proof (request, confirmation, confirmed text)"
                .into(),
        ),
        (Channel::Phone, Audience::Consumer) => verdict(
            Ground::ConsumerWithoutOptIn,
            "telephone to a consumer needs a prior, provable opt-in (UWG §7(2) no. 1)".into(),
        ),
        (_, audience) => verdict(
            match audience {
                Audience::Business => Ground::NoConsent,
                Audience::Consumer => Ground::ConsumerWithoutOptIn,
            },
            format!("{channel} advertising needs a prior, provable opt-in (UWG §7(2))"),
        ),
    }
}

/// Every channel closed: the contact was erased on `erased_on`. Kept telephone proofs
/// document the past; they allow nothing any more.
pub fn erased(erased_on: chrono::NaiveDate) -> Vec<Verdict> {
    Channel::ALL
        .iter()
        .map(|channel| Verdict {
            channel: *channel,
            allowed: false,
            reason: format!(
                "the contact was erased on {} (Art. 17 GDPR)",
                erased_on.format("%Y-%m-%d")
            ),
            ground: Ground::Erased,
        })
        .collect()
}

/// Whether a CRM contact is a business contact (linked to an organisation) or a consumer,
/// with the reason; a contact the CRM no longer has is judged as a consumer, the stricter
/// case.
pub fn audience_of(record: Option<&Record>) -> (Audience, String) {
    match record.and_then(|r| r.get(Field::OrganisationId)) {
        Some(org) => (
            Audience::Business,
            format!("linked to organisation {org} in the CRM"),
        ),
        None if record.is_some() => (
            Audience::Consumer,
            "not linked to an organisation in the CRM".to_string(),
        ),
        None => (
            Audience::Consumer,
            "not in the CRM; judged as a consumer, the stricter rules".to_string(),
        ),
    }
}

/// Verdicts for every channel, in channel order.
pub fn verdicts(audience: Audience, records: &[Consent], now: NaiveDateTime) -> Vec<Verdict> {
    Channel::ALL
        .iter()
        .map(|c| verdict(*c, audience, records, now))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Audience::{Business, Consumer};
    use Channel::{Email, Fax, Letter, Phone, Sms};
    use ConsentStatus::{OptIn, OptOut, Presumed};

    fn at(day: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 1, day)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
    }

    fn record(channel: Channel, status: ConsentStatus, day: u32) -> Consent {
        let evidence = (channel == Email && status == OptIn).then(|| DoubleOptIn {
            requested_at: at(day) - chrono::Duration::hours(1),
            confirmed_at: at(day),
            confirmed_text: "Ja, ich möchte den Newsletter erhalten.".into(),
        });
        Consent {
            channel,
            status,
            at: at(day),
            source: "web form".into(),
            evidence,
        }
    }

    /// Consent history of a channel, oldest first, as (status, day).
    type History = &'static [(ConsentStatus, u32)];

    const NOTHING: History = &[];
    const OPT_IN: History = &[(OptIn, 1)];
    const OPT_OUT: History = &[(OptOut, 1)];
    const PRESUMED: History = &[(Presumed, 1)];
    const REVOKED_AFTER_OPT_IN: History = &[(OptIn, 1), (OptOut, 5)];
    const OPT_IN_AFTER_REVOCATION: History = &[(OptOut, 1), (OptIn, 5)];
    const PRESUMED_REVOKED: History = &[(Presumed, 1), (OptOut, 5)];

    #[test]
    fn the_uwg_matrix() {
        // (channel, audience, history, allowed)
        let cases: Vec<(Channel, Audience, History, bool)> = vec![
            (Letter, Business, NOTHING, true),
            (Letter, Consumer, NOTHING, true),
            (Letter, Consumer, OPT_IN, true),
            (Letter, Business, OPT_OUT, false),
            (Letter, Consumer, OPT_OUT, false),
            (Letter, Consumer, REVOKED_AFTER_OPT_IN, false),
            (Letter, Consumer, OPT_IN_AFTER_REVOCATION, true),
            (Phone, Business, NOTHING, false),
            (Phone, Business, PRESUMED, true),
            (Phone, Business, PRESUMED_REVOKED, false),
            (Phone, Business, OPT_IN, true),
            (Phone, Business, OPT_OUT, false),
            (Phone, Business, REVOKED_AFTER_OPT_IN, false),
            (Phone, Consumer, NOTHING, false),
            (Phone, Consumer, PRESUMED, false),
            (Phone, Consumer, OPT_IN, true),
            (Phone, Consumer, OPT_OUT, false),
            (Phone, Consumer, REVOKED_AFTER_OPT_IN, false),
            (Phone, Consumer, OPT_IN_AFTER_REVOCATION, true),
        ];
        let mut cases = cases;
        for channel in [Email, Fax, Sms] {
            for audience in [Business, Consumer] {
                cases.extend([
                    (channel, audience, NOTHING, false),
                    (channel, audience, PRESUMED, false),
                    (channel, audience, OPT_IN, true),
                    (channel, audience, OPT_OUT, false),
                    (channel, audience, REVOKED_AFTER_OPT_IN, false),
                    (channel, audience, OPT_IN_AFTER_REVOCATION, true),
                ]);
            }
        }
        for (channel, audience, history, allowed) in cases {
            let records: Vec<Consent> = history
                .iter()
                .map(|(status, day)| record(channel, *status, *day))
                .collect();
            let v = verdict(channel, audience, &records, at(20));
            assert_eq!(
                v.allowed, allowed,
                "{channel} to a {audience} with {history:?}: {}",
                v.reason
            );
            assert!(!v.reason.is_empty());
        }
    }

    #[test]
    fn every_verdict_names_its_ground() {
        use Ground as G;
        // (channel, audience, history, ground)
        let cases: &[(Channel, Audience, History, Ground)] = &[
            (Letter, Consumer, NOTHING, G::NoConsentNeeded),
            (Letter, Business, OPT_OUT, G::Revoked),
            (Phone, Business, PRESUMED, G::Presumed),
            (Phone, Business, NOTHING, G::NoConsent),
            (Phone, Consumer, NOTHING, G::ConsumerWithoutOptIn),
            (Email, Business, NOTHING, G::NoConsent),
            (Email, Consumer, NOTHING, G::ConsumerWithoutOptIn),
            (Sms, Consumer, OPT_IN, G::OptIn),
            (Fax, Business, REVOKED_AFTER_OPT_IN, G::Revoked),
        ];
        for (channel, audience, history, ground) in cases {
            let records: Vec<Consent> = history
                .iter()
                .map(|(status, day)| record(*channel, *status, *day))
                .collect();
            let v = verdict(*channel, *audience, &records, at(20));
            assert_eq!(
                v.ground, *ground,
                "{channel} to a {audience} with {history:?}"
            );
        }
        let mut bare = record(Email, OptIn, 1);
        bare.evidence = None;
        assert_eq!(
            verdict(Email, Consumer, &[bare], at(20)).ground,
            G::OptInWithoutProof
        );
        let gone = erased(at(3).date());
        assert!(gone.iter().all(|v| !v.allowed && v.ground == G::Erased));
        assert_eq!(gone.len(), Channel::ALL.len());
    }

    #[test]
    fn a_revocation_counts_from_its_timestamp_on() {
        let records = [record(Phone, OptIn, 1), record(Phone, OptOut, 10)];
        assert!(verdict(Phone, Consumer, &records, at(9)).allowed);
        let after = verdict(Phone, Consumer, &records, at(10));
        assert!(!after.allowed);
        assert!(
            after.reason.contains("revoked on 2026-01-10"),
            "{}",
            after.reason
        );
    }

    #[test]
    fn other_channels_do_not_count() {
        let records = [record(Email, OptIn, 1), record(Letter, OptOut, 2)];
        assert!(!verdict(Phone, Consumer, &records, at(20)).allowed);
        assert!(verdict(Email, Consumer, &records, at(20)).allowed);
        assert!(!verdict(Letter, Consumer, &records, at(20)).allowed);
    }

    #[test]
    fn an_email_opt_in_without_double_opt_in_proof_is_not_provable() {
        let mut bare = record(Email, OptIn, 1);
        bare.evidence = None;
        let v = verdict(Email, Consumer, &[bare], at(20));
        assert!(!v.allowed);
        assert!(v.reason.contains("double opt-in"), "{}", v.reason);
    }

    #[test]
    fn records_that_cannot_stand_are_named() {
        let mut empty_text = record(Email, OptIn, 1);
        empty_text.evidence.as_mut().unwrap().confirmed_text = " ".into();
        let mut backwards = record(Email, OptIn, 1);
        backwards.evidence.as_mut().unwrap().confirmed_at = at(1) - chrono::Duration::days(2);
        let cases = [
            (record(Phone, Presumed, 1), None),
            (record(Email, Presumed, 1), Some("telephone to businesses")),
            (empty_text, Some("confirmed")),
            (backwards, Some("before it was requested")),
            (record(Sms, OptOut, 1), None),
        ];
        for (consent, problem) in cases {
            match (check(&consent), problem) {
                (Ok(()), None) => {}
                (Err(e), Some(p)) => assert!(e.contains(p), "{e}"),
                (got, want) => panic!("{consent:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn names_round_trip_and_unknown_ones_are_listed() {
        for &c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>().unwrap(), c);
        }
        let e = "mail".parse::<Channel>().unwrap_err();
        assert!(e.contains("letter, phone, email, fax, sms"), "{e}");
        assert_eq!("opt_out".parse::<ConsentStatus>().unwrap(), OptOut);
    }
}
