//! Every PII entity of spec/API.md §6.3, positive and negative, through the real detector.

use pii::detector::Detector;

/// `(entity, matched text)` for every accepted match, in report order.
fn found(text: &str) -> Vec<(&'static str, String)> {
    let detector = Detector::new().unwrap();
    detector.scan(text).into_iter().map(|f| (f.entity.name(), f.span.slice(text).to_string())).collect()
}

fn assert_finds(entity: &str, text: &str, expected: &str) {
    let all = found(text);
    assert!(all.iter().any(|(e, t)| *e == entity && t == expected), "{entity} `{expected}` not found in `{text}`: {all:?}");
}

fn assert_no(entity: &str, text: &str) {
    let all = found(text);
    assert!(all.iter().all(|(e, _)| *e != entity), "unexpected {entity} in `{text}`: {all:?}");
}

#[test]
fn ssn() {
    assert_finds("SSN", "SSN 123-45-6789 on file", "123-45-6789");
    assert_finds("SSN", "Número: 123-45-6789.", "123-45-6789");
    for text in ["123-456-789", "12-345-6789", "123-45-67890", "A123-45-6789", "123 45 6789", "١٢٣-٤٥-٦٧٨٩"] {
        assert_no("SSN", text);
    }
}

#[test]
fn mrn() {
    assert_finds("MRN", "patient AB1234567 admitted", "AB1234567");
    assert_finds("MRN", "MRN: 12345678", "MRN: 12345678");
    assert_finds("MRN", "mrn#123456", "mrn#123456");
    assert_finds("MRN", "Mrn 1234567890", "Mrn 1234567890");
    for text in ["ab1234567", "AB123456", "ABC1234567", "AB12345678", "MRN: 12345", "MRN 12345678901", "XMRN 1234567"] {
        assert_no("MRN", text);
    }
}

#[test]
fn credit_card_requires_luhn() {
    assert_finds("CREDIT_CARD", "card 4111 1111 1111 1111 exp", "4111 1111 1111 1111");
    assert_finds("CREDIT_CARD", "4111-1111-1111-1111", "4111-1111-1111-1111");
    assert_finds("CREDIT_CARD", "pan=4111111111111111;", "4111111111111111");
    assert_finds("CREDIT_CARD", "5500 0055 5555 5559", "5500 0055 5555 5559");
    for text in ["4111 1111 1111 1112", "order 1234567812345678", "1234-5678-9012-3456", "4111 1111 1111", "41111111111111111"] {
        assert_no("CREDIT_CARD", text);
    }
}

#[test]
fn phone() {
    for (text, phone) in [
        ("call 555-123-4567 now", "555-123-4567"),
        ("555.123.4567", "555.123.4567"),
        ("tel:5551234567", "5551234567"),
        ("office (555) 123-4567", "(555) 123-4567"),
        ("(555)123.4567", "(555)123.4567"),
    ] {
        assert_finds("PHONE", text, phone);
    }
    for text in ["555-1234", "12-345-67890", "555-123-45678", "555 123 4567", "x5551234567"] {
        assert_no("PHONE", text);
    }
}

#[test]
fn email() {
    assert_finds("EMAIL", "write to jane.doe+tag@mail.example.com.", "jane.doe+tag@mail.example.com");
    assert_finds("EMAIL", "a@b.co", "a@b.co");
    for text in ["user@localhost", "@example.com", "jane at example dot com", "name@domain.c"] {
        assert_no("EMAIL", text);
    }
}

#[test]
fn ip_address() {
    assert_finds("IP_ADDRESS", "host 192.168.1.1 up", "192.168.1.1");
    assert_finds("IP_ADDRESS", "10.0.0.255", "10.0.0.255");
    assert_finds("IP_ADDRESS", "0.0.0.0", "0.0.0.0");
    assert_finds("IP_ADDRESS", "010.001.000.099", "010.001.000.099");
    for text in ["256.1.1.1", "192.168.1.300", "version 1.2.3", "v1.2.3.4", "1.2.3.4567", "1000.1.1.1"] {
        assert_no("IP_ADDRESS", text);
    }
}

#[test]
fn date_of_birth() {
    for (text, date) in [
        ("DOB: 01/02/1990", "01/02/1990"),
        ("dob 1/2/1990", "1/2/1990"),
        ("Date of birth 1990-01-02.", "1990-01-02"),
        ("She was born on March 5, 1980", "March 5, 1980"),
        ("Birth date: Jan. 5 1980", "Jan. 5 1980"),
        ("birthdate=12/31/2001", "12/31/2001"),
        ("DOB — né le 01/02/1990", "01/02/1990"),
    ] {
        assert_finds("DATE_OF_BIRTH", text, date);
    }
    for text in ["Appointment on 01/02/1990", "reborn 01/02/1990", "DOB 13/45/1990", "born in 1990", "01/02/1990 DOB"] {
        assert_no("DATE_OF_BIRTH", text);
    }
}

#[test]
fn date_of_birth_window_is_twenty_characters() {
    let gap20 = format!("DOB{}01/02/1990", " ".repeat(20));
    let gap21 = format!("DOB{}01/02/1990", " ".repeat(21));
    assert_finds("DATE_OF_BIRTH", &gap20, "01/02/1990");
    assert_no("DATE_OF_BIRTH", &gap21);
    // Characters, not bytes: twenty two-byte characters still fit.
    let wide = format!("DOB{}01/02/1990", "é".repeat(20));
    assert_finds("DATE_OF_BIRTH", &wide, "01/02/1990");
}

#[test]
fn street_address() {
    for (text, address) in [
        ("lives at 123 Main Street.", "123 Main Street"),
        ("1600 Pennsylvania Avenue", "1600 Pennsylvania Avenue"),
        ("42 Wallaby Way, Sydney", "42 Wallaby Way"),
        ("221B Baker Street", "221B Baker Street"),
        ("500 N Elm St Apt 4B", "500 N Elm St Apt 4B"),
        ("77 Sunset Blvd, Suite 300", "77 Sunset Blvd, Suite 300"),
        ("9 Old Mill Ln #12", "9 Old Mill Ln #12"),
        ("1 Infinite Loop Cupertino Ct", "1 Infinite Loop Cupertino Ct"),
    ] {
        assert_finds("STREET_ADDRESS", text, address);
    }
    for text in ["5 tips to drive safely", "I have 3 apples", "Room 12 Main Hall", "Street 12", "123 A B C D E Street"] {
        assert_no("STREET_ADDRESS", text);
    }
}

#[test]
fn report_order_is_entity_table_then_text() {
    let text = "mail b@x.io, SSN 987-65-4321, mail a@x.io, SSN 123-45-6789, MRN AB1234567";
    let entities: Vec<(&str, String)> = found(text);
    let expected = vec![
        ("SSN", "987-65-4321".to_string()),
        ("SSN", "123-45-6789".to_string()),
        ("MRN", "AB1234567".to_string()),
        ("EMAIL", "b@x.io".to_string()),
        ("EMAIL", "a@x.io".to_string()),
    ];
    assert_eq!(entities, expected);
}

#[test]
fn overlapping_entities_are_each_reported_once() {
    assert_eq!(
        found("MRN 5551234567"),
        vec![("MRN", "MRN 5551234567".to_string()), ("PHONE", "5551234567".to_string())]
    );
}

#[test]
fn clean_text_finds_nothing() {
    let text = "The quarterly report covers 3 regions, version 2.4.1, ISBN 978-0-306-40615-7, order #A-1234.";
    assert_eq!(found(text), vec![]);
    assert_eq!(found(""), vec![]);
}

#[test]
fn street_abbreviation_keeps_its_period_but_a_full_word_does_not() {
    assert_finds("STREET_ADDRESS", "at 12 Elm St. today", "12 Elm St.");
    assert_finds("STREET_ADDRESS", "at 12 Elm Street. Today", "12 Elm Street");
}
