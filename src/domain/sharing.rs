//! Who shares an address in a set of records, counted on EM's sample of compared pairs
//! before EM: whether records at one address are mostly one person or firm held twice, or
//! different people (a family, colleagues at their firm's address, firms in one building).
//! That decides how much an agreeing address and family name weigh.

use serde::Serialize;

use super::comparison::Group;
use super::model::Field;
use super::score::{Gamma, Level, Model};

/// Fewer shared pairs than this say nothing either way.
const MIN_SHARED_PAIRS: usize = 20;

/// The comparisons that name whom a record is about: two records at one address with one
/// of these entirely different are two people or two firms.
const NAMES: [Field; 3] = [Field::FirstName, Field::LastName, Field::LegalName];

fn at(model: &Model, field: Field) -> Option<usize> {
    model.comparisons.iter().position(|c| c.field == field)
}

/// Where the street and the other address comparisons are in a model.
struct Address {
    street: usize,
    members: Vec<usize>,
}

impl Address {
    /// `None` where the model does not compare the street.
    fn of(model: &Model) -> Option<Address> {
        let members = (0..model.comparisons.len())
            .filter(|&i| {
                let c = &model.comparisons[i];
                c.group == Some(Group::Address) && c.field != Field::LastName
            })
            .collect();
        Some(Address {
            street: at(model, Field::Street)?,
            members,
        })
    }

    /// Whether a pair agrees exactly on the street and every other address comparison both
    /// records have.
    fn shared(&self, g: &Gamma) -> bool {
        g[self.street] == Level::Exact
            && self
                .members
                .iter()
                .all(|&i| matches!(g[i], Level::Exact | Level::Missing))
    }
}

/// Pairs at one address, and how many of them differ entirely in a name (first name,
/// family name, a firm's legal name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct SharedAddresses {
    /// Compared pairs agreeing exactly on the street and every other address comparison
    /// both records have, with a name on both.
    pub shared: usize,
    /// Of those, the pairs with a name that differs entirely.
    pub other_name: usize,
}

impl SharedAddresses {
    /// Counts among `pairs` (comparison vectors under `model`); `None` where the model
    /// compares no street or no name.
    pub fn count(model: &Model, pairs: &[Gamma]) -> Option<SharedAddresses> {
        let address = Address::of(model)?;
        let names: Vec<usize> = NAMES.iter().filter_map(|&f| at(model, f)).collect();
        if names.is_empty() {
            return None;
        }
        let mut out = SharedAddresses::default();
        for g in pairs {
            if !address.shared(g) || names.iter().all(|&i| g[i] == Level::Missing) {
                continue;
            }
            out.shared += 1;
            out.other_name += usize::from(names.iter().any(|&i| g[i] == Level::Far));
        }
        Some(out)
    }

    /// Enough pairs share an address, and fewer than a third of them have a name that
    /// differs entirely: an address is then its holder's own. A duplicate whose name was
    /// replaced, not mistyped, is rarer than that even in FEBRL, which garbles names hard
    /// (18–25 % of its pairs at one address); families and colleagues make a third or more
    /// (39–92 % in the generated files, where a register match's true pair is among them).
    pub fn own(&self) -> bool {
        self.shared >= MIN_SHARED_PAIRS && 3 * self.other_name < self.shared
    }

    /// Counts among EM's sample `pairs` and applies the count to `model`.
    pub fn weigh(model: &mut Model, pairs: &[Gamma]) -> Option<SharedAddresses> {
        let counted = SharedAddresses::count(model, pairs)?;
        counted.apply(model);
        Some(counted)
    }

    /// Says where an address counts in full, for a run's summary.
    pub fn describe(&self) -> Option<String> {
        self.own().then(|| {
            format!(
                "addresses: {} of {} pairs at one address have no name that differs entirely; each part of the address counts",
                self.shared - self.other_name,
                self.shared
            )
        })
    }

    /// Where [`SharedAddresses::own`], lets each comparison of the address count in
    /// `model` (see [`Model::addresses_are_own`]). Returns whether it did.
    pub fn apply(&self, model: &mut Model) -> bool {
        model.addresses_are_own = self.own();
        model.addresses_are_own
    }
}

/// Pairs of a file's records at one address under one family name, and how many of them
/// differ entirely in the first name: whether a shared address and family name single out a
/// person in this file or, as among private customers who live with their families, mostly
/// two people of one household.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Households {
    /// Compared pairs agreeing exactly on the family name, the street and every other
    /// address comparison both records have, with a first name on both.
    pub shared: usize,
    /// Of those, the pairs whose first names differ entirely.
    pub other_first_name: usize,
}

impl Households {
    /// Counts among `pairs` (comparison vectors under `model`); `None` where the model does
    /// not compare first name, family name and street.
    pub fn count(model: &Model, pairs: &[Gamma]) -> Option<Households> {
        let (first, last) = (at(model, Field::FirstName)?, at(model, Field::LastName)?);
        let address = Address::of(model)?;
        let mut out = Households::default();
        for g in pairs {
            if g[last] != Level::Exact || !address.shared(g) || g[first] == Level::Missing {
                continue;
            }
            out.shared += 1;
            out.other_first_name += usize::from(g[first] == Level::Far);
        }
        Some(out)
    }

    /// Most pairs sharing an address and a family name are two people: the two are then
    /// one piece of evidence, not two.
    pub fn present(&self) -> bool {
        self.shared >= MIN_SHARED_PAIRS && 2 * self.other_first_name > self.shared
    }

    /// Where [`Households::present`], counts the family name as part of the address group
    /// of `model` (the scorer then adds it at most once with the address); the first name
    /// and birth date then tell the people of one household apart. Returns whether it did.
    pub fn apply(&self, model: &mut Model) -> bool {
        let Some(last) = model
            .comparisons
            .iter_mut()
            .find(|c| c.field == Field::LastName && c.group.is_none())
        else {
            return false;
        };
        if !self.present() {
            return false;
        }
        last.group = Some(Group::Address);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::EntityKind;

    /// Comparison vectors under the default contact model: family name, street and the
    /// other address comparisons exact, and the first name at `first`.
    fn at_one_address(model: &Model, first: Level) -> Gamma {
        let mut g = [Level::Missing; crate::domain::comparison::MAX_COMPARISONS];
        for (i, c) in model.comparisons.iter().enumerate() {
            g[i] = match c.field {
                Field::FirstName => first,
                Field::LastName => Level::Exact,
                _ if c.group == Some(Group::Address) => Level::Exact,
                _ => Level::Missing,
            };
        }
        g
    }

    #[test]
    fn a_family_name_counts_with_the_address_only_where_most_who_share_both_are_two_people() {
        let start = Model::default_for(EntityKind::Contact);
        let (same, typo, other) = (
            at_one_address(&start, Level::Exact),
            at_one_address(&start, Level::Close),
            at_one_address(&start, Level::Far),
        );
        let mut moved = other;
        moved[at(&start, Field::Street).unwrap()] = Level::Far;
        // (case, pairs, shared, other first name, grouped)
        let cases: [(&str, Vec<Gamma>, usize, usize, bool); 5] = [
            (
                "households",
                [vec![other; 30], vec![same; 10]].concat(),
                40,
                30,
                true,
            ),
            (
                "duplicates, a few with a new first name",
                [vec![same; 30], vec![typo; 5], vec![other; 5]].concat(),
                40,
                5,
                false,
            ),
            (
                "half and half is not most",
                [vec![same; 20], vec![other; 20]].concat(),
                40,
                20,
                false,
            ),
            ("too few pairs to tell", vec![other; 19], 19, 19, false),
            (
                "another street is no shared address",
                vec![moved; 40],
                0,
                0,
                false,
            ),
        ];
        for (case, pairs, shared, other_first_name, grouped) in cases {
            let counted = Households::count(&start, &pairs).unwrap();
            assert_eq!(
                counted,
                Households {
                    shared,
                    other_first_name
                },
                "{case}"
            );
            let mut model = start.clone();
            assert_eq!(counted.apply(&mut model), grouped, "{case}");
            let last = model
                .comparisons
                .iter()
                .find(|c| c.field == Field::LastName);
            assert_eq!(
                last.unwrap().group,
                grouped.then_some(Group::Address),
                "{case}"
            );
        }
        // Organisations have no family name.
        let firms = Model::default_for(EntityKind::Organisation);
        assert_eq!(Households::count(&firms, &[]), None);
    }

    #[test]
    fn an_address_counts_in_full_only_where_few_who_share_one_have_another_name() {
        let start = Model::default_for(EntityKind::Contact);
        let (same, typo, other) = (
            at_one_address(&start, Level::Exact),
            at_one_address(&start, Level::Close),
            at_one_address(&start, Level::Far),
        );
        let mut colleagues = other;
        colleagues[at(&start, Field::LastName).unwrap()] = Level::Far;
        let mut unnamed = same;
        for i in [Field::FirstName, Field::LastName].map(|f| at(&start, f).unwrap()) {
            unnamed[i] = Level::Missing;
        }
        // (case, pairs, shared, other name, own)
        let cases: [(&str, Vec<Gamma>, usize, usize, bool); 6] = [
            (
                "duplicates, a few with a name replaced",
                [vec![same; 30], vec![typo; 5], vec![other; 5]].concat(),
                40,
                5,
                true,
            ),
            (
                "households",
                [vec![other; 30], vec![same; 10]].concat(),
                40,
                30,
                false,
            ),
            (
                "colleagues at their firm's address",
                vec![colleagues; 40],
                40,
                40,
                false,
            ),
            (
                "a third with another name is too many",
                [vec![same; 26], vec![other; 14]].concat(),
                40,
                14,
                false,
            ),
            ("too few pairs to tell", vec![same; 19], 19, 0, false),
            ("no name to tell by", vec![unnamed; 40], 0, 0, false),
        ];
        for (case, pairs, shared, other_name, own) in cases {
            let counted = SharedAddresses::count(&start, &pairs).unwrap();
            assert_eq!(counted, SharedAddresses { shared, other_name }, "{case}");
            let mut model = start.clone();
            assert_eq!(counted.apply(&mut model), own, "{case}");
            assert_eq!(model.addresses_are_own, own, "{case}");
        }
        // A firm at another firm's address.
        let firms = Model::default_for(EntityKind::Organisation);
        let mut neighbours = [Level::Missing; crate::domain::comparison::MAX_COMPARISONS];
        for (i, c) in firms.comparisons.iter().enumerate() {
            if c.group == Some(Group::Address) {
                neighbours[i] = Level::Exact;
            }
        }
        neighbours[at(&firms, Field::LegalName).unwrap()] = Level::Far;
        let counted = SharedAddresses::count(&firms, &vec![neighbours; 40]).unwrap();
        assert!(!counted.own(), "{counted:?}");
    }
}
