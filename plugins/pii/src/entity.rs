//! The PII entity types, in the order the spec reports them.

/// One PII entity type. The declaration order is the report order of spec/API.md §6.3 and the
/// tie-break rank for redaction (§6.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Entity {
    Ssn,
    Mrn,
    CreditCard,
    Phone,
    Email,
    IpAddress,
    DateOfBirth,
    StreetAddress,
}

impl Entity {
    pub const ALL: [Entity; 8] = [
        Entity::Ssn,
        Entity::Mrn,
        Entity::CreditCard,
        Entity::Phone,
        Entity::Email,
        Entity::IpAddress,
        Entity::DateOfBirth,
        Entity::StreetAddress,
    ];

    /// The wire name, used in messages, `entity` and redaction tokens.
    pub fn name(self) -> &'static str {
        match self {
            Entity::Ssn => "SSN",
            Entity::Mrn => "MRN",
            Entity::CreditCard => "CREDIT_CARD",
            Entity::Phone => "PHONE",
            Entity::Email => "EMAIL",
            Entity::IpAddress => "IP_ADDRESS",
            Entity::DateOfBirth => "DATE_OF_BIRTH",
            Entity::StreetAddress => "STREET_ADDRESS",
        }
    }

    /// Position in the report order.
    pub fn rank(self) -> usize {
        self as usize
    }
}
