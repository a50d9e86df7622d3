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

    /// The violation message: fixed per entity, so reporting a match allocates nothing.
    pub fn message(self) -> &'static str {
        match self {
            Entity::Ssn => "PII detected: SSN",
            Entity::Mrn => "PII detected: MRN",
            Entity::CreditCard => "PII detected: CREDIT_CARD",
            Entity::Phone => "PII detected: PHONE",
            Entity::Email => "PII detected: EMAIL",
            Entity::IpAddress => "PII detected: IP_ADDRESS",
            Entity::DateOfBirth => "PII detected: DATE_OF_BIRTH",
            Entity::StreetAddress => "PII detected: STREET_ADDRESS",
        }
    }

    /// Position in the report order.
    pub fn rank(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::Entity;

    #[test]
    fn each_message_names_its_entity() {
        for entity in Entity::ALL {
            assert_eq!(entity.message(), format!("PII detected: {}", entity.name()));
        }
    }
}
