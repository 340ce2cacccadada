use super::*;

fn org(id: &str, name: &str, postcode: &str, city: &str) -> Record {
    Record::new(id)
        .with(Field::LegalName, name)
        .with(Field::Postcode, postcode)
        .with(Field::City, city)
}

fn scored(crm: &Record, reg: &Record) -> Scored {
    let scorer = Scorer::new(Model::default_for(EntityKind::Organisation));
    scorer.score(
        &Prepared::new(EntityKind::Organisation, crm),
        &Prepared::new(EntityKind::Organisation, reg),
    )
}

#[test]
fn scores_by_case_table() {
    let base = org("c", "Müller Maschinenbau GmbH", "80331", "München")
        .with(Field::Street, "Hauptstraße 12");
    // (label, register record, min probability, max probability)
    let cases = [
        (
            "same name and place",
            org("r", "Mueller Maschinenbau GmbH", "80331", "Muenchen")
                .with(Field::Street, "Hauptstr. 12"),
            0.99,
            1.0,
        ),
        (
            "typo in name",
            org("r", "Müler Maschinenbau GmbH", "80331", "München")
                .with(Field::Street, "Hauptstr. 12"),
            0.95,
            1.0,
        ),
        (
            "other company elsewhere",
            org("r", "Schulz Logistik AG", "20095", "Hamburg").with(Field::Street, "Hafenstraße 1"),
            0.0,
            0.01,
        ),
        (
            "neighbour firm",
            org("r", "Weber Logistik GmbH", "80331", "München")
                .with(Field::Street, "Hauptstraße 12"),
            0.0,
            0.5,
        ),
    ];
    for (label, reg, min, max) in cases {
        let s = scored(&base, &reg);
        assert!(
            s.score >= min && s.score <= max,
            "{label}: {} not in [{min}, {max}] ({})",
            s.score,
            s.grade()
        );
    }
}

#[test]
fn agreeing_identifier_outweighs_a_renamed_company_and_a_clash_sinks_it() {
    let crm = org("c", "Fraport AG", "60547", "Frankfurt").with(Field::Lei, "5299001ERX0K10IZUL40");
    let renamed = org(
        "r",
        "Fraport AG Frankfurt Airport Services Worldwide",
        "60547",
        "Frankfurt am Main",
    )
    .with(Field::Lei, "5299001ERX0K10IZUL40");
    let s = scored(&crm, &renamed);
    assert_eq!(s.method, Method::Identifier);
    assert!(s.score > 0.99, "{} {}", s.score, s.grade());
    let other_lei =
        org("r", "Fraport AG", "60547", "Frankfurt").with(Field::Lei, "529900GRZ2BQY5ZM9N49");
    let clash = scored(&crm, &other_lei);
    let mut no_lei = other_lei.clone();
    no_lei.values.remove(&Field::Lei);
    let without = scored(&crm, &no_lei);
    assert!(
        clash.weight < without.weight - 6.0,
        "a differing LEI costs: {} vs {}",
        clash.weight,
        without.weight
    );
}

#[test]
fn register_number_at_another_court_is_only_close() {
    let crm = org("c", "Alpha GmbH", "10115", "Berlin")
        .with(Field::RegisterNumber, "HRB 1234")
        .with(Field::RegisterCourt, "Amtsgericht Charlottenburg");
    let other_court = org("r", "Alpha GmbH", "10115", "Berlin")
        .with(Field::RegisterNumber, "HRB 1234")
        .with(Field::RegisterCourt, "München");
    let s = scored(&crm, &other_court);
    let register = s
        .comparisons
        .iter()
        .find(|c| c.field == Field::RegisterNumber)
        .unwrap();
    assert_eq!(register.level, Level::Close);
    assert_eq!(s.method, Method::Similarity);
}

#[test]
fn explanation_lists_values_levels_and_contributions_that_add_up() {
    let crm = org("c", "Alpha Logistik GmbH", "10115", "Berlin").with(Field::Phone, "030 1234567");
    let reg =
        org("r", "Alpha Logistics GmbH", "10117", "Berlin").with(Field::Phone, "+49 30 1234567");
    let s = scored(&crm, &reg);
    assert_eq!(
        s.grade(),
        "name=B form=A street=- house=- postcode=B city=A lei=- vat_id=- register=- phone=A website=- email=-"
    );
    let name = &s.comparisons[0];
    assert_eq!(
        (name.crm.as_deref(), name.register.as_deref()),
        (Some("alpha logistik"), Some("alpha logistics"))
    );
    assert!(name.similarity.is_some_and(|x| x > 0.9) && name.contribution > 0.0);
    let phone = s
        .comparisons
        .iter()
        .find(|c| c.field == Field::Phone)
        .unwrap();
    assert_eq!(phone.crm.as_deref(), Some("+49301234567"));
    let missing = s
        .comparisons
        .iter()
        .find(|c| c.field == Field::Lei)
        .unwrap();
    assert_eq!(missing.contribution, 0.0);
    let sum: f64 = s.comparisons.iter().map(|c| c.contribution).sum();
    let scorer = Scorer::new(Model::default_for(EntityKind::Organisation));
    assert!((scorer.model.prior_weight() + sum - s.weight).abs() < 1e-9);
    assert!((Scorer::probability(s.weight) - s.score).abs() < 1e-12);
    let p = |r: &Record| Prepared::new(EntityKind::Organisation, r);
    assert!(
        (scorer.weight(&p(&crm), &p(&reg)) - s.weight).abs() < 1e-9,
        "fast path agrees"
    );
}

#[test]
fn rare_names_weigh_more_than_common_ones() {
    let mut register: Vec<Prepared> = (0..50)
        .map(|i| {
            Prepared::new(
                EntityKind::Organisation,
                &org(
                    &format!("m{i}"),
                    "Müller GmbH",
                    &format!("{:05}", 10000 + i),
                    "Berlin",
                ),
            )
        })
        .collect();
    register.push(Prepared::new(
        EntityKind::Organisation,
        &org("x", "Zwiebelkuchen GmbH", "10115", "Berlin"),
    ));
    let tf = TermFrequencies::build(EntityKind::Organisation, &register);
    let mut scorer = Scorer::new(Model::default_for(EntityKind::Organisation));
    scorer.term_frequencies = Some(std::sync::Arc::new(tf));
    let common = Prepared::new(
        EntityKind::Organisation,
        &org("c1", "Mueller GmbH", "10000", "Berlin"),
    );
    let rare = Prepared::new(
        EntityKind::Organisation,
        &org("c2", "Zwiebelkuchen GmbH", "10115", "Berlin"),
    );
    let w_common = scorer.weight(&common, &register[0]);
    let w_rare = scorer.weight(&rare, &register[50]);
    assert!(
        w_rare > w_common + 3.0,
        "rare {w_rare} vs common {w_common}"
    );
}

/// An exact agreement on a name weighs `log2(m / u)` with u scaled by the name's frequency:
/// never below the probability floor, or one in the register's count where that is lower.
#[test]
fn a_name_held_once_weighs_by_its_frequency_down_to_the_floor() {
    let prepared =
        |name: &str| Prepared::new(EntityKind::Organisation, &org("r", name, "10115", "Berlin"));
    let (rare, common) = (prepared("Zwiebelkuchen GmbH"), prepared("Müller GmbH"));
    let name_bits = |register_size: usize, held: usize, u: f64| {
        let register = std::iter::repeat_n(&rare, held)
            .chain(std::iter::repeat_n(&common, register_size - held));
        let mut model = Model::default_for(EntityKind::Organisation);
        let m = model.params(Field::LegalName).unwrap().m;
        let params = FieldParams {
            m,
            u: [u, 0.05, 0.95 - u],
        };
        model.pin(Field::LegalName, params).unwrap();
        let mut scorer = Scorer::new(model);
        let tf = TermFrequencies::build(EntityKind::Organisation, register);
        scorer.term_frequencies = Some(std::sync::Arc::new(tf));
        let s = scorer.score(&rare, &rare);
        let name = s.comparisons.iter().find(|c| c.field == Field::LegalName);
        (name.unwrap().contribution, m[0])
    };
    let mean = |held: f64, n: f64| (held / n).powi(2) + ((n - held) / n).powi(2);
    // (register size, how many hold the name, u of the average name, the u it must weigh by)
    for (size, held, u, want_u) in [
        (1_000, 500, 0.02, 0.02 * 0.5 / mean(500.0, 1e3)),
        (1_000, 1, 0.02, 0.02 * 0.001 / mean(1.0, 1e3)),
        (1_000, 1, 1e-4, PROBABILITY_FLOOR),
        (200_000, 1, 0.02, 1.0 / 200_000.0),
    ] {
        let (bits, m) = name_bits(size, held, u);
        let want = (m / want_u).log2();
        assert!(
            (bits - want).abs() < 1e-6,
            "{held} of {size}, u {u}: {bits} bits, want {want}"
        );
    }
}

#[test]
fn contacts_compare_by_sound_initial_and_double_names() {
    let scorer = Scorer::new(Model::default_for(EntityKind::Contact));
    let p = |first: &str, last: &str| {
        Prepared::new(
            EntityKind::Contact,
            &Record::new("x")
                .with(Field::FirstName, first)
                .with(Field::LastName, last),
        )
    };
    let level = |a: &Prepared, b: &Prepared, field: Field| {
        scorer
            .score(a, b)
            .comparisons
            .iter()
            .find(|c| c.field == field)
            .map(|c| c.level)
    };
    let anna = p("Anna", "Meyer");
    let cases = [
        (p("A.", "Maier"), Field::LastName, Level::Close),
        (p("A.", "Maier"), Field::FirstName, Level::Close),
        (
            p("Anna", "Meyer-Lüdenscheidt"),
            Field::LastName,
            Level::Close,
        ),
        (p("Berta", "Schulz"), Field::LastName, Level::Far),
        (p("ANNA", "MEYER"), Field::FirstName, Level::Exact),
        // Filled in the wrong order.
        (p("Meyer", "Anna"), Field::FirstName, Level::Close),
        (p("Maier", "Anna"), Field::LastName, Level::Close),
    ];
    for (other, field, want) in cases {
        assert_eq!(level(&anna, &other, field), Some(want), "{other:?} {field}");
    }
    // Sound alike and spelt alike: close. Sound alike to Kölner Phonetik only (names of
    // other languages it was not made for): far.
    let sounds = [
        ("Karl", "Carl", Level::Close),
        ("Schmidt", "Schmitt", Level::Close),
        ("green", "caruana", Level::Far),
        ("kyriacou", "george", Level::Far),
    ];
    for (a, b, want) in sounds {
        let (a, b) = (p("x", a), p("x", b));
        assert_eq!(
            a.get(slot::LAST_SOUND),
            b.get(slot::LAST_SOUND),
            "{a:?} {b:?}"
        );
        assert_eq!(level(&a, &b, Field::LastName), Some(want), "{a:?} {b:?}");
    }
}

#[test]
fn pinning_refuses_fields_that_are_not_compared() {
    let mut model = Model::default_for(EntityKind::Contact);
    let params = FieldParams {
        m: [0.9, 0.05, 0.05],
        u: [0.1, 0.1, 0.8],
    };
    let err = model.pin(Field::Lei, params).unwrap_err();
    assert!(err.contains("last_name"), "{err}");
    model.pin(Field::LastName, params).unwrap();
    assert_eq!(model.params(Field::LastName), Some(&params));
}

#[test]
fn a_whole_name_in_one_field_is_split_into_its_parts() {
    let scorer = Scorer::new(Model::default_for(EntityKind::Contact));
    let register = Prepared::new(
        EntityKind::Contact,
        &Record::new("r")
            .with(Field::Salutation, "Frau")
            .with(Field::Title, "Dr.")
            .with(Field::FirstName, "Anna")
            .with(Field::LastName, "Müller-Lüdenscheidt"),
    );
    for whole in [
        "Frau Dr. Anna Müller-Lüdenscheidt",
        "Müller-Lüdenscheidt, Anna",
    ] {
        let crm = Prepared::new(
            EntityKind::Contact,
            &Record::new("c").with(Field::LastName, whole),
        );
        let s = scorer.score(&crm, &register);
        let level = |f: Field| s.comparisons.iter().find(|c| c.field == f).map(|c| c.level);
        assert_eq!(
            level(Field::FirstName),
            Some(Level::Exact),
            "{whole}: {}",
            s.grade()
        );
        assert_eq!(
            level(Field::LastName),
            Some(Level::Exact),
            "{whole}: {}",
            s.grade()
        );
    }
    let crm = Prepared::new(
        EntityKind::Contact,
        &Record::new("c").with(Field::LastName, "Frau Dr. Anna Müller-Lüdenscheidt"),
    );
    let s = scorer.score(&crm, &register);
    let level = |f: Field| s.comparisons.iter().find(|c| c.field == f).map(|c| c.level);
    assert_eq!(
        (level(Field::Salutation), level(Field::Title)),
        (Some(Level::Exact), Some(Level::Exact))
    );
}

#[test]
fn two_agreeing_identifiers_are_never_outweighed_by_a_move() {
    let firm = |street: &str, postcode: &str, city: &str| {
        org("x", "Müller Maschinenbau GmbH", postcode, city)
            .with(Field::Street, street)
            .with(Field::VatId, "DE136695976")
            .with(Field::RegisterNumber, "HRB 12345")
            .with(Field::RegisterCourt, "Amtsgericht München")
            .with(Field::Phone, "+49 89 123456")
    };
    // The prior of a register of a million: the address alone would sink the pair.
    let mut model = Model::default_for(EntityKind::Organisation);
    model.lambda = 1e-6;
    let scorer = Scorer::new(model);
    let p = |r: &Record| Prepared::new(EntityKind::Organisation, r);
    let crm = firm("Hauptstraße 1", "80331", "München");
    let moved = firm("Industriestraße 99", "20095", "Hamburg");
    let s = scorer.score(&p(&crm), &p(&moved));
    assert!(s.score > 0.99, "{} {}", s.score, s.grade());
    assert_eq!(
        s.weight,
        scorer.weight(&p(&crm), &p(&moved)),
        "ranking agrees"
    );
    let total: f64 =
        s.comparisons.iter().map(|c| c.contribution).sum::<f64>() + scorer.model.prior_weight();
    assert!((total - s.weight).abs() < 1e-9, "contributions add up");
    // One identifier that agrees and one that clashes hold nothing.
    let other = moved.with(Field::VatId, "DE129273398");
    let s = scorer.score(&p(&crm), &p(&other));
    assert!(s.score < 0.5, "{} {}", s.score, s.grade());
}

#[test]
fn a_household_shares_an_address_but_the_person_is_told_by_name_and_birth_date() {
    let person = |first: &str, born: &str, street: &str, postcode: &str, city: &str| {
        Record::new("p")
            .with(Field::FirstName, first)
            .with(Field::LastName, "Schneider")
            .with(Field::BirthDate, born)
            .with(Field::Street, street)
            .with(Field::Postcode, postcode)
            .with(Field::City, city)
    };
    let mut model = Model::default_for(EntityKind::Contact);
    model.lambda = 1e-5;
    model.register_size = Some(100_000);
    let scorer = Scorer::new(model);
    let p = |r: &Record| Prepared::new(EntityKind::Contact, r);
    let crm = p(&person(
        "Andrea",
        "1973-02-11",
        "Lindenweg 4",
        "50667",
        "Köln",
    ));
    let spouse = p(&person("Jan", "1969-08-30", "Lindenweg 4", "50667", "Köln"));
    let moved = p(&person(
        "Andrea",
        "1973-02-11",
        "Ringstraße 80",
        "80331",
        "München",
    ));
    let as_spouse = scorer.score(&crm, &spouse);
    let as_moved = scorer.score(&crm, &moved);
    assert!(
        as_spouse.score < 0.5,
        "{} {}",
        as_spouse.score,
        as_spouse.grade()
    );
    // Unfitted m/u: the moved person is not yet certain, but ahead of the spouse.
    assert!(
        as_moved.weight > as_spouse.weight + 2.0,
        "{} vs {}",
        as_moved.weight,
        as_spouse.weight
    );
    for (s, other) in [(&as_spouse, &spouse), (&as_moved, &moved)] {
        assert_eq!(s.weight, scorer.weight(&crm, other), "ranking agrees");
        let total: f64 =
            s.comparisons.iter().map(|c| c.contribution).sum::<f64>() + scorer.model.prior_weight();
        assert!((total - s.weight).abs() < 1e-9, "contributions add up");
    }
    // A move counts once: of street, postcode and city only the strongest says against.
    let against = as_moved
        .comparisons
        .iter()
        .filter(|c| c.contribution < 0.0)
        .count();
    assert_eq!(against, 1, "{:?}", as_moved.comparisons);
}

/// Two passes over the same register weigh alike to the last bit: the chance that two
/// random values agree was summed in the order of a hash map, which differs from process to
/// process (and from map to map), and a score near a threshold crossed it in one pass and
/// not in the next.
#[test]
fn term_frequencies_are_the_same_to_the_last_bit_however_often_they_are_counted() {
    // Many names, each held a different number of times: a float sum over them in another
    // order ends in other bits.
    let register: Vec<Prepared> = (0..400)
        .flat_map(|i| {
            let name = format!("Firma{i} GmbH");
            (0..1 + i % 37).map(move |j| {
                Prepared::new(
                    EntityKind::Organisation,
                    &org(&format!("r{i}-{j}"), &name, "10115", "Berlin"),
                )
            })
        })
        .collect();
    let bits = || {
        let tf = TermFrequencies::build(EntityKind::Organisation, &register);
        tf.exact_u(Field::LegalName, "firma7", 0.01)
            .map(f64::to_bits)
    };
    let first = bits();
    assert!(first.is_some(), "legal names are counted");
    for _ in 0..20 {
        assert_eq!(bits(), first);
    }
}

mod weight_at_least {
    use super::*;
    use proptest::prelude::*;

    /// A value for `field` out of a few, so that pairs agree, nearly agree and differ.
    fn value(field: Field) -> BoxedStrategy<Option<String>> {
        let pool: &[&str] = match field {
            Field::LegalName | Field::OrganisationName => &[
                "Müller GmbH",
                "Mueller GmbH",
                "Müller Bau",
                "Schulz AG",
                "Weber KG",
            ],
            Field::FirstName => &["Anna", "Anne", "A.", "Jonas", "Müller"],
            Field::LastName => &["Müller", "Mueller", "Meier", "Mayer", "Anna"],
            Field::Street => &["Hauptstraße", "Hauptstr.", "Hauptstrasse", "Ringweg"],
            Field::HouseNumber => &["12", "12a", "10-14", "3"],
            Field::Postcode => &["80331", "80333", "83031", "10115"],
            Field::City => &["München", "Muenchen", "Berlin", "Berlin Mitte"],
            Field::Lei | Field::VatId => &["X1", "X2"],
            Field::RegisterNumber => &["HRB 1", "HRB 2"],
            Field::Phone => &["+49891234", "+49891243", "+49301111"],
            Field::Email => &["anna@x.de", "anne@x.de", "anna@y.de"],
            Field::BirthDate => &["1980-01-02", "1980-02-01", "1980", "1979-01-02"],
            _ => &["a", "b"],
        };
        prop::option::weighted(0.7, prop::sample::select(pool).prop_map(str::to_string)).boxed()
    }

    fn record(kind: EntityKind) -> impl Strategy<Value = Prepared> {
        let fields: Vec<Field> = Model::default_for(kind)
            .comparisons
            .iter()
            .map(|c| c.field)
            .collect();
        let values: Vec<_> = fields.iter().map(|f| value(*f)).collect();
        values.prop_map(move |values| {
            let mut record = Record::new("r");
            for (field, value) in fields.iter().zip(values) {
                if let Some(v) = value {
                    record = record.with(*field, v);
                }
            }
            Prepared::new(kind, &record)
        })
    }

    fn case() -> impl Strategy<Value = (EntityKind, Vec<Prepared>)> {
        prop_oneof![Just(EntityKind::Organisation), Just(EntityKind::Contact)]
            .prop_flat_map(|kind| (Just(kind), prop::collection::vec(record(kind), 2..8)))
    }

    proptest! {
        /// Stopping early never drops a pair `weight` keeps, nor changes its weight by a
        /// bit: whatever the values, the prior, the term frequencies, the address rule and
        /// the groups.
        #[test]
        fn a_pair_is_kept_with_its_very_weight_exactly_when_it_reaches_the_minimum(
            (kind, records) in case(),
            lambda in 1e-6f64..0.5,
            own in any::<bool>(),
            counted in any::<bool>(),
            identifiers_grouped in any::<bool>(),
            min in -40.0f64..30.0,
        ) {
            let mut model = Model::default_for(kind);
            if identifiers_grouped {
                // A configuration may put an identifier into the address group.
                let mut comparisons = model.comparisons.clone();
                for c in comparisons.iter_mut().filter(|c| c.is_identifier()) {
                    c.group = Some(crate::domain::comparison::Group::Address);
                }
                model = Model::with_comparisons(kind, comparisons);
            }
            model.lambda = lambda;
            model.addresses_are_own = own;
            let mut scorer = Scorer::new(model);
            if counted {
                let tf = TermFrequencies::build(kind, &records);
                scorer.term_frequencies = Some(std::sync::Arc::new(tf));
            }
            for a in &records {
                let ceiling = scorer.ceiling(a);
                for b in &records {
                    let weight = scorer.weight(a, b);
                    // The minimum at the weight itself, too: the edge is kept.
                    for min in [min, weight] {
                        let want = (weight >= min).then_some(weight.to_bits());
                        let got = scorer.weight_at_least(&ceiling, a, b, min).map(f64::to_bits);
                        prop_assert_eq!(got, want, "min {}", min);
                    }
                }
            }
        }

        /// Ranking compares a candidate only as far as it can still be among the explained
        /// best: the best, their order (ties by id), their scores and the count are those of
        /// weighing every candidate in full.
        #[test]
        fn ranking_stops_early_but_ranks_and_counts_as_weighing_everything(
            (kind, records) in case(),
            lambda in 1e-6f64..0.5,
            counted in any::<bool>(),
        ) {
            let mut model = Model::default_for(kind);
            model.lambda = lambda;
            let mut scorer = Scorer::new(model);
            if counted {
                let tf = TermFrequencies::build(kind, &records);
                scorer.term_frequencies = Some(std::sync::Arc::new(tf));
            }
            // Candidates with ids of their own, some alike, so that weights tie.
            let candidates: Vec<Prepared> = records
                .iter()
                .chain(&records)
                .enumerate()
                .map(|(i, r)| {
                    let mut c = r.clone();
                    c.id = format!("c{:02}", (i * 7) % 16).into();
                    c
                })
                .collect();
            for crm in &records {
                let mut all: Vec<(f64, &Prepared)> =
                    candidates.iter().map(|c| (scorer.weight(crm, c), c)).collect();
                all.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
                let want: Vec<_> = all
                    .iter()
                    .take(EXPLAINED)
                    .map(|(_, c)| scorer.score(crm, c))
                    .collect();
                let (got, count) = scorer.rank(crm, candidates.iter(), None);
                prop_assert_eq!(count, candidates.len());
                prop_assert_eq!(got, want);
            }
        }
    }
}
