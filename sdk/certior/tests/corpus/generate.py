"""Writes detection.jsonl, the labelled corpus of tests/detection_quality.rs.

Not run by the tests: the committed detection.jsonl is the corpus. Edit the snippets below and
run `python3 sdk/certior/tests/corpus/generate.py` to regenerate it (deterministic: the fake
secrets come from a seeded generator). Snippets mark PII and secrets inline as
`[[LABEL|value]]`; keyword findings (PHI keywords, MNPI keywords and patterns, privilege
markers) are labelled from the spec's lists (spec/API.md §6.5-§6.7), which define them as
case-insensitive substrings or patterns, so every occurrence in a snippet of that preset is
expected. Negatives must contain none.
"""
import json, os, re, sys

PHI_KW = ["patient name", "medical record", "diagnosis", "prescription", "treatment plan"]
MNPI_KW = ["material non-public", "insider", "unreleased earnings", "confidential projections",
           "executive compensation", "insider information"]
MNPI_PAT = [r"\bunreleased\s+earnings\b", r"\bMNPI\b", r"\binsider\s+(?:information|trading)\b"]
PRIV_KW = ["legal advice", "attorney notes", "case strategy", "settlement terms", "witness prep",
           "settlement discussion", "attorney-client"]

def luhn_ok(d):
    d = [int(c) for c in d if c.isdigit()]
    s = 0
    for i, n in enumerate(reversed(d)):
        if i % 2 == 1:
            n *= 2
            if n > 9: n -= 9
        s += n
    return s % 10 == 0

MARK = re.compile(r"\[\[([A-Z_]+)\|(.*?)\]\]")

records = []
ids = {}

def add(group, preset, marked, note, kind=None):
    """marked: text with [[LABEL|value]] markers for PII and secrets; keywords are found by spec."""
    out = ""
    expects = []
    pos = 0
    for m in MARK.finditer(marked):
        out += marked[pos:m.start()]
        start = len(out.encode())
        out += m.group(2)
        end = len(out.encode())
        label, value = m.group(1), m.group(2)
        if label == "CREDIT_CARD":
            assert luhn_ok(value), value
        expects.append({"entity": label, "span": [start, end], "match": value})
        pos = m.end()
    out += marked[pos:]
    assert "[[" not in out, out
    b = out.encode()
    def bspan(s, e):
        return [len(out[:s].encode()), len(out[:e].encode())]
    if preset == "hipaa":
        for kw in PHI_KW:
            for m in re.finditer(re.escape(kw), out, re.I):
                expects.append({"code": "phi_keyword", "keyword": kw, "span": bspan(m.start(), m.end()), "match": m.group(0)})
    if preset == "sox":
        for kw in MNPI_KW:
            for m in re.finditer(re.escape(kw), out, re.I):
                expects.append({"code": "mnpi_keyword", "keyword": kw, "span": bspan(m.start(), m.end()), "match": m.group(0)})
        for p in MNPI_PAT:
            for m in re.finditer(p, out, re.I | re.A):
                expects.append({"code": "mnpi_pattern", "span": bspan(m.start(), m.end()), "match": m.group(0)})
    if preset == "legal_privilege":
        for kw in PRIV_KW:
            for m in re.finditer(re.escape(kw), out, re.I):
                expects.append({"code": "privilege_marker", "keyword": kw, "span": bspan(m.start(), m.end()), "match": m.group(0)})
    if group == "negative":
        assert not expects, (out, expects)
    elif group != "beyond_spec":
        assert expects, out
    expects.sort(key=lambda e: (e["span"][0], e.get("entity", e.get("code"))))
    n = ids.get(group, 0) + 1
    ids[group] = n
    rec = {"id": f"{group}-{n:03d}", "group": group, "preset": preset, "text": out, "expect": expects, "note": note}
    records.append(rec)

H = "hipaa"; D = "default"; S = "sox"; L = "legal_privilege"

# ---------------------------------------------------------------- SSN
P = "pii"
add(P, H, "SSN [[SSN|123-45-6789]] on file.", "bare SSN with label")
add(P, H, "Patient's social security number is [[SSN|078-05-1120]], verified against the intake form.", "SSN in prose")
add(P, D, "ssn=[[SSN|219-09-9999]]", "key=value tool input")
add(P, H, "Employee W-2 lists SSN: [[SSN|536-22-8714]] and employer EIN 12-3456789.", "EIN is not an SSN")
add(P, H, "Guarantor: María José Núñez — SSN [[SSN|412-67-3098]] (self-pay).", "non-ASCII before the span")
add(P, D, '{"name": "R. Okafor", "ssn": "[[SSN|601-18-4427]]", "plan": "PPO"}', "SSN inside JSON")
add(P, H, "Verify identity: last four won't do, need full SSN ([[SSN|334-90-1276]]).", "SSN in parentheses")
add(P, H, "Spouse SSN [[SSN|287-33-0145]]; dependent SSN [[SSN|287-33-0188]].", "two SSNs")
add(P, D, "| 2024-03 | Lee, Dana | [[SSN|655-04-2231]] | active |", "SSN in a table row")
add(P, H, "Caller read back the number [[SSN|509-71-6632]] twice before the line dropped.", "SSN without keyword")
add(P, D, "SSN:[[SSN|148-52-9910]]\nStatus: pending", "no space after colon")
add(P, H, "Fax cover: re claimant [[SSN|723-18-0456]], see attached.", "fax cover")
add(P, D, "Tax form 1099 recipient TIN [[SSN|244-87-3301]] (individual).", "TIN formatted as SSN")
add(P, H, "Subscriber ID differs from SSN [[SSN|390-25-7718]]; please update the payer record.", "with other ids")
add(P, D, "Please wire the refund; SSN is [[SSN|811-40-2296]].", "end of sentence")

# ---------------------------------------------------------------- MRN
add(P, H, "Chart [[MRN|MR4820193]] was updated at discharge.", "two letters + 7 digits")
add(P, H, "[[MRN|MRN: 00482913]] — admit to 4 West.", "MRN: prefix, 8 digits")
add(P, H, "Lab results for [[MRN|mrn#3390217]] are back.", "lowercase mrn#")
add(P, H, "Transfer summary, [[MRN|MRN 120004587]], attending Dr. Chen.", "9 digits")
add(P, D, "mrn=[[MRN|KX9021734]]", "key=value")
add(P, H, "Merged duplicate records [[MRN|HC0012345]] and [[MRN|HC0012399]].", "two chart numbers")
add(P, H, "Please pull imaging for [[MRN|MRN:7781204]] from PACS.", "no space after colon")
add(P, H, "ED triage note — [[MRN|MRN 5520913]], arrived by ambulance.", "7 digits")
add(P, D, '{"mrn": "[[MRN|ZB4471902]]", "ward": "ICU"}', "JSON")
add(P, H, "Specimen label reads [[MRN|QA7730021]] / accession 24-118.", "specimen label")
add(P, H, "Discharge paperwork for [[MRN|Mrn 66120045]] printed.", "mixed case Mrn")
add(P, H, "Per registration, [[MRN|JH3318470]] is the correct chart.", "registration")
add(P, D, "Row 14: [[MRN|TX5502118]], bed 3B, NPO after midnight.", "bed assignment")
add(P, H, "Old chart [[MRN|MRN#04410786]] archived; new chart [[MRN|UC9048812]].", "both forms")
add(P, H, "Radiology requisition: [[MRN|MRN 31920077]] CT abdomen w/ contrast.", "requisition")

# ---------------------------------------------------------------- CREDIT_CARD (Luhn-valid)
add(P, D, "Card on file: [[CREDIT_CARD|4532 0151 1283 0366]], exp 09/27.", "Visa spaced")
add(P, H, "Copay charged to [[CREDIT_CARD|5425-2334-3010-9903]].", "Mastercard dashed")
add(P, D, "cc=[[CREDIT_CARD|6011000990139424]]", "Discover contiguous")
add(P, D, "Customer read the card number as [[CREDIT_CARD|3528 0000 0000 0007]] over the phone.", "JCB")
add(P, H, "Billing dispute: charge on [[CREDIT_CARD|4917-6100-0000-0000]] reversed.", "Visa Electron dashed")
add(P, D, '{"pan": "[[CREDIT_CARD|5105105105105100]]", "cvv": "***"}', "JSON")
add(P, D, "Test with [[CREDIT_CARD|4111 1111 1111 1111]] in the sandbox only.", "well-known test card")
add(P, H, "Autopay card [[CREDIT_CARD|4024007153762983]] declined twice.", "contiguous Visa")
add(P, D, "Please update the card to [[CREDIT_CARD|5168 2144 7733 1908]]; the old one expired.", "update request")
add(P, D, "Refund to card ending …9019? Full number [[CREDIT_CARD|6011-1234-5678-9019]].", "ellipsis nearby")
add(P, H, "Card [[CREDIT_CARD|4003 6000 0000 0014]] was used at the pharmacy kiosk.", "pharmacy")
add(P, D, "Payment failed for [[CREDIT_CARD|5555555555554444]] (insufficient funds).", "contiguous MC")
add(P, D, "Two cards: [[CREDIT_CARD|3571 1122 3344 5564]] and [[CREDIT_CARD|4532-0151-1283-0366]].", "two cards")
add(P, H, "Patient paid deposit with card [[CREDIT_CARD|6271 8392 0016 5439]].", "UnionPay-like 16 digits")
add(P, D, "cardNumber: [[CREDIT_CARD|3759876543210017]]", "YAML-ish")

# ---------------------------------------------------------------- PHONE
add(P, D, "Call me back at [[PHONE|555-867-5309]].", "dashed")
add(P, H, "Pharmacy phone [[PHONE|415.555.0132]], fax [[PHONE|415.555.0133]] (same office).", "dotted, two")
add(P, H, "Emergency contact: daughter, [[PHONE|(212) 555-0147]].", "parenthesised area code (plugin addition)")
add(P, D, "phone=[[PHONE|6175550199]]", "contiguous 10 digits")
add(P, H, "Left voicemail on [[PHONE|312-555-0190]] re: follow-up appointment.", "voicemail")
add(P, D, "Contact sales: +1 [[PHONE|800-555-0175]] (Mon–Fri).", "with +1 prefix and en dash")
add(P, H, "Home [[PHONE|(646)555-0123]] / cell [[PHONE|917-555-0144]].", "paren without space, two numbers")
add(P, D, "SMS code sent to [[PHONE|303.555.0110]].", "SMS")
add(P, H, "Nurse line is [[PHONE|888-555-0102]]; after hours page [[PHONE|888-555-0103]].", "two lines")
add(P, D, '{"mobile": "[[PHONE|2065550186]]"}', "JSON")
add(P, H, "Referring office: Dr. Alvarez, tel. [[PHONE|505-555-0161]].", "tel.")
add(P, D, "Reach the landlord at [[PHONE|702.555.0139]] for the keys.", "dotted")
add(P, H, "Callback number confirmed: [[PHONE|(919) 555-0177]].", "paren")
add(P, D, "WhatsApp: [[PHONE|480-555-0128]]", "chat handle")
add(P, H, "Interpreter services at [[PHONE|713-555-0155]] (Spanish).", "services")

# ---------------------------------------------------------------- EMAIL
add(P, D, "Send the report to [[EMAIL|dana.lee@example.com]].", "simple")
add(P, H, "Patient portal login: [[EMAIL|j.okafor+portal@mail.example.org]]", "plus addressing")
add(P, D, "cc: [[EMAIL|billing@st-marys-hospital.example]], [[EMAIL|ap@vendor.co.uk]]", "two, hyphenated domain and co.uk")
add(P, D, "email=[[EMAIL|RAVI_K@EXAMPLE.NET]]", "upper case")
add(P, H, "Reply from [[EMAIL|nurse.station4@clinic.example.com]]: bed is ready.", "digits in local part")
add(P, D, "<[[EMAIL|o.brien@law-firm.example]]> wrote:", "angle brackets")
add(P, D, '{"user": {"email": "[[EMAIL|t.nguyen@corp.example.io]]"}}', "JSON nested")
add(P, H, "Forwarded to [[EMAIL|care-team@health.example.org]] for review.", "team alias")
add(P, D, "Contact: [[EMAIL|first.last%dept@host.example.com]]", "percent in local part")
add(P, D, "From: Zoë Müller <[[EMAIL|zoe.mueller@example.de]]>", "non-ASCII display name")
add(P, H, "Caregiver email is [[EMAIL|mike1987@example.com]], prefers email over phone.", "digits")
add(P, D, "mailto:[[EMAIL|press@example.com]]", "mailto")
add(P, D, "Unsubscribe requests: [[EMAIL|no-reply@news.example.com]].", "end of sentence")
add(P, H, "Insurance adjuster [[EMAIL|adjuster.42@claims.example.us]] needs the EOB.", "us TLD")
add(P, D, "Git author: Priya Shah <[[EMAIL|priya@users.noreply.example.com]]>", "git trailer")

# ---------------------------------------------------------------- IP_ADDRESS
add(P, D, "Login from [[IP_ADDRESS|203.0.113.42]] at 02:14 UTC.", "documentation range")
add(P, D, "host=[[IP_ADDRESS|10.0.4.17]] port=5432", "private")
add(P, H, "Workstation [[IP_ADDRESS|192.168.1.254]] accessed the chart.", "LAN")
add(P, D, "Blocked requests from [[IP_ADDRESS|198.51.100.7]] and [[IP_ADDRESS|198.51.100.8]].", "two")
add(P, D, "nameserver [[IP_ADDRESS|8.8.8.8]]", "resolv.conf")
add(P, D, "GET /health 200 — client [[IP_ADDRESS|172.16.254.1]]", "access log")
add(P, H, "VPN assigned [[IP_ADDRESS|100.64.12.9]] to the remote clinician.", "CGNAT")
add(P, D, '{"remote_addr": "[[IP_ADDRESS|255.255.255.0]]"}', "netmask-like max octets")
add(P, D, "ssh admin@[[IP_ADDRESS|52.14.201.33]]", "ssh target")
add(P, D, "Allow-list: [[IP_ADDRESS|0.0.0.0]]/0 is too broad.", "zero address with CIDR")
add(P, D, "X-Forwarded-For: [[IP_ADDRESS|66.249.66.1]], [[IP_ADDRESS|10.1.2.3]]", "header with two")
add(P, H, "Device at [[IP_ADDRESS|10.20.30.40]] uploaded the ECG.", "device")
add(P, D, "ping [[IP_ADDRESS|127.0.0.1]] succeeded", "loopback")
add(P, D, "Firewall rule: deny [[IP_ADDRESS|185.220.101.4]] (tor exit).", "firewall")
add(P, D, "Server [[IP_ADDRESS|192.0.2.199]] answered in 40 ms.", "latency line")

# ---------------------------------------------------------------- DATE_OF_BIRTH
add(P, H, "DOB: [[DATE_OF_BIRTH|04/12/1987]]", "MM/DD/YYYY after DOB")
add(P, H, "Date of birth [[DATE_OF_BIRTH|1979-11-02]], female.", "ISO")
add(P, H, "Patient was born on [[DATE_OF_BIRTH|March 3, 1961]] in Toledo.", "Month D, YYYY after born")
add(P, H, "Birth date: [[DATE_OF_BIRTH|12/30/2001]]; guardian present.", "birth date")
add(P, D, "dob=[[DATE_OF_BIRTH|1990-07-04]]", "key=value lowercase")
add(P, H, "Name: K. Singh, DOB [[DATE_OF_BIRTH|September 14, 1955]], allergies: none.", "Month full")
add(P, H, "born [[DATE_OF_BIRTH|06/01/1948]], widowed, lives alone", "lowercase born")
add(P, D, '{"DOB": "[[DATE_OF_BIRTH|1983-02-28]]"}', "JSON key DOB")
add(P, H, "Confirm DATE OF BIRTH — [[DATE_OF_BIRTH|10/09/1972]] — before dispensing.", "upper case keyword, em dash")
add(P, H, "Infant born [[DATE_OF_BIRTH|2024-01-15]] at 38 weeks.", "newborn")
add(P, D, "Applicant DOB: [[DATE_OF_BIRTH|Jan 5, 1999]]", "abbreviated month")
add(P, H, "Birthdate [[DATE_OF_BIRTH|11/22/1966]] matches the ID.", "birthdate (plugin addition)")
add(P, H, "He was born in Lagos on [[DATE_OF_BIRTH|July 19, 1991]].", "born ... on")
add(P, D, "Verify: dob [[DATE_OF_BIRTH|1975-05-17]], zip 02139.", "with zip")
add(P, H, "Date of Birth: [[DATE_OF_BIRTH|February 29, 1996]]", "leap day")

# ---------------------------------------------------------------- STREET_ADDRESS
add(P, H, "Home address: [[STREET_ADDRESS|1600 Pennsylvania Avenue]], Washington, DC.", "Avenue")
add(P, H, "Lives at [[STREET_ADDRESS|221B Baker Street]] with a roommate.", "house number with letter")
add(P, D, "Ship to [[STREET_ADDRESS|42 Wallaby Way]], Sydney.", "Way")
add(P, H, "Mailing address [[STREET_ADDRESS|350 Fifth Ave, Suite 3400]], New York, NY 10118.", "abbrev + suite")
add(P, D, "address=[[STREET_ADDRESS|12 Oak St., Apt 4]]", "St. with unit")
add(P, H, "Home visit scheduled at [[STREET_ADDRESS|7 Old Mill Rd]] tomorrow morning.", "Rd")
add(P, D, "Return to sender: [[STREET_ADDRESS|9870 North Lake Shore Dr]]", "four words + Dr")
add(P, H, "Patient relocated to [[STREET_ADDRESS|55 Water Street #12]] last month.", "# unit")
add(P, D, "Office: 1 Infinite Loop? No — [[STREET_ADDRESS|1 Apple Park Way]], Cupertino.", "Loop is not a suffix; Way is")
add(P, H, "Emergency contact lives at [[STREET_ADDRESS|418 Maple Lane]], Springfield.", "Lane")
add(P, D, "Invoice billing address: [[STREET_ADDRESS|2300 Commerce Blvd]], Dallas, TX 75201.", "Blvd")
add(P, H, "Ambulance dispatched to [[STREET_ADDRESS|17 Kings Court]].", "Court")
add(P, D, "New office at [[STREET_ADDRESS|600 Congress Avenue, Suite 1450]], Austin.", "full word + suite")
add(P, H, "Forwarding address: [[STREET_ADDRESS|88 Elm Pl]], Portland, OR.", "Pl")
add(P, D, "Deliver to [[STREET_ADDRESS|3 Rue De La Paix Ln]] (gate code at desk).", "four words + Ln")
add(P, H, "Previous address [[STREET_ADDRESS|1020 Sunset Boulevard]] on the old chart.", "Boulevard")
add(P, D, "Pickup: [[STREET_ADDRESS|75 Cedar Ct, Apt 2B]]", "Ct + apt with letter")
add(P, H, "Home health agency at [[STREET_ADDRESS|440 Riverside Drive]] called.", "Drive")

# ---------------------------------------------------------------- mixed
add(P, H, "Name: Ana Ruiz | DOB: [[DATE_OF_BIRTH|03/22/1984]] | SSN: [[SSN|318-44-2091]] | Phone: [[PHONE|617-555-0183]]", "intake header, three entities")
add(P, H, "Reach [[EMAIL|ana.ruiz@example.com]] or [[PHONE|(617) 555-0184]]; chart [[MRN|BW2290174]].", "email, phone, MRN")
add(P, D, "Order placed from [[IP_ADDRESS|73.162.45.201]] by [[EMAIL|buyer@example.com]], card [[CREDIT_CARD|4532015112830366]].", "ip, email, card")
add(P, H, "Address on file: [[STREET_ADDRESS|19 Hawthorne Street]]; DOB [[DATE_OF_BIRTH|1962-08-09]]; [[MRN|MRN 4410372]].", "address, dob, mrn")
add(P, D, "user=alice ssn=[[SSN|402-11-7789]] phone=[[PHONE|5125550142]] ip=[[IP_ADDRESS|10.9.8.7]]", "tool input lines")
add(P, H, "Claim: member [[SSN|230-76-1184]], born [[DATE_OF_BIRTH|April 2, 1950]], lives at [[STREET_ADDRESS|6 Birch Road]].", "claim")
add(P, D, "Contact sheet\n- [[EMAIL|ops@example.com]]\n- [[PHONE|720-555-0111]]\n- [[STREET_ADDRESS|1500 Market St]], Denver", "multi-line list")
add(P, H, "Portal audit: [[EMAIL|r.patel@example.org]] logged in from [[IP_ADDRESS|98.207.14.3]].", "portal audit")

# ---------------------------------------------------------------- harder spec-conformant forms
add(P, H, "SSN#[[SSN|457-55-5462]] (verified)", "SSN# prefix without space")
add(P, H, "[[MRN|MRN:\t00123456]] | bed 12", "tab after MRN:")
add(P, D, "Card: [[CREDIT_CARD|4111-1111 1111-1111]]", "mixed separators (spec allows either per group)")
add(P, D, "Toll-free 1-[[PHONE|800-555-0175]] or +1-[[PHONE|415-555-0100]].", "country-code prefixes")
add(P, D, "Admin UI at http://[[IP_ADDRESS|192.168.0.10]]/admin and [[IP_ADDRESS|10.0.0.1]]:8080.", "IP in URL and with port")
add(P, H, "Patient born in Springfield, on [[DATE_OF_BIRTH|05/06/1977]].", "exactly 20 characters between keyword and date")
add(P, H, "Date  of  birth:\t[[DATE_OF_BIRTH|Sept. 14, 1955]]", "extra whitespace, abbreviated month with period")
add(P, D, "Office: [[STREET_ADDRESS|350 5th Avenue]], 34th floor.", "ordinal street name")
add(P, H, "Address [[STREET_ADDRESS|1 W 72nd St]] New York", "abbreviated direction and ordinal")
add(P, D, "Letters go to [[STREET_ADDRESS|10 Downing St.]] London", "St. with period")
add(P, H, "Home: [[STREET_ADDRESS|14 O'Connell Street]], Dublin", "apostrophe in the street name")
add(P, D, "Email [[EMAIL|a.b-c_d@sub.mail.example.museum]] is valid.", "long TLD and subdomains")
add(P, H, "Two emails in a row: [[EMAIL|x@example.io]],[[EMAIL|y@example.io]]", "comma without space")
add(P, D, "ssn 123456789 is not formatted; SSN [[SSN|123-45-6780]] is.", "unformatted 9 digits are not an SSN by the spec")
add(P, D, "Terminal shuttle leaves from [[STREET_ADDRESS|8500 Peña Blvd]], Denver.", "non-ASCII letter in a street word")
add(P, H, "Clinic moved to [[STREET_ADDRESS|35 De la Guerra Street]], Santa Barbara.", "lower-case particle inside the street name")
add(P, H, "Next of kin: [[STREET_ADDRESS|14 Müller Street]], Hoboken.", "umlaut in the street name")

# ---------------------------------------------------------------- PHI keywords (hipaa)
K = "phi_keyword"
add(K, H, "Please confirm the patient name before we release anything.", "patient name")
add(K, H, "The medical record was faxed to the wrong office.", "medical record")
add(K, H, "Working diagnosis: community-acquired pneumonia.", "diagnosis")
add(K, H, "New prescription for amoxicillin 500 mg sent to the pharmacy.", "prescription")
add(K, H, "Treatment Plan: physical therapy twice weekly for six weeks.", "capitalised treatment plan")
add(K, H, "Update the treatment plan and the prescription after the consult.", "two keywords")
add(K, H, "PATIENT NAME: REDACTED IN SOURCE", "upper case")
add(K, H, "Differential diagnosis includes appendicitis; final diagnosis pending CT.", "two occurrences")
add(K, H, "Request for a copy of the medical records under the right of access.", "plural records (substring)")
add(K, H, "Prescriptions older than a year are archived.", "plural prescriptions")
add(K, H, "The diagnoses were coded in ICD-10; the primary diagnosis was E11.9.", "diagnoses (no match) and diagnosis")
add(K, H, "Upload the medical-record scan? No, the medical record itself.", "hyphenated variant is not the keyword")
add(K, H, "Discharge summary: diagnosis, treatment plan, and follow-up.", "list")
add(K, H, "Her e-prescription was rejected by the insurer.", "e-prescription")
add(K, H, "Column headers: patient name, date, provider, diagnosis", "CSV header")
add(K, H, "We changed the treatment plan after the biopsy.", "treatment plan mid-sentence")
add(K, H, "Prescription drug monitoring program check completed.", "PDMP")
add(K, H, "Who has access to the electronic medical record system?", "EMR")
add(K, H, "patient name=J. Doe", "key=value tool input")
add(K, H, "Mis-diagnosis claims must be routed to risk management.", "prefix hyphen")
add(K, H, "Call the pharmacy at [[PHONE|508-555-0163]] about the prescription.", "keyword plus phone")
add(K, H, "The medical record number is [[MRN|MRN 7730018]].", "keyword plus MRN")

# ---------------------------------------------------------------- MNPI (sox)
M = "mnpi"
add(M, S, "This is insider information about unreleased earnings; MNPI", "spec example: six hits")
add(M, S, "Do not forward: the deck contains material non-public guidance for Q4.", "material non-public")
add(M, S, "Reminder: insider trading blackout starts Friday.", "insider trading")
add(M, S, "Attached are the confidential projections for FY2027 revenue.", "confidential projections")
add(M, S, "Draft proxy section on executive compensation — board eyes only.", "executive compensation")
add(M, S, "Analyst asked about unreleased  earnings figures; declined to comment.", "double space in pattern")
add(M, S, "Flagged as MNPI by the disclosure committee.", "MNPI acronym")
add(M, S, "The list of insiders must be updated before the offering.", "insiders (substring)")
add(M, S, "UNRELEASED EARNINGS — DO NOT DISTRIBUTE", "upper case")
add(M, S, "mnpi: true", "lowercase acronym, key=value")
add(M, S, "He may be trading on insider\ninformation from the merger team.", "newline inside pattern")
add(M, S, "Executive Compensation Committee minutes (draft v3).", "title case")
add(M, S, "Please scrub the confidential projections and the unreleased earnings from the appendix.", "two keywords")
add(M, S, "Possible MNPI leak via the Slack export; escalate.", "MNPI in sentence")
add(M, S, "Is this insider information or already in the 8-K?", "question")
add(M, S, "Material Non-Public Information policy acknowledgement due.", "title case material non-public")
add(M, S, "Insider list v12.xlsx attached.", "file name")
add(M, S, "Our unreleased earnings beat consensus by 8%.", "leak")
add(M, S, "tool:send_email\nbody=see confidential projections tab", "tool input")
add(M, S, "Ticker ACME: insider trading alert from surveillance.", "surveillance")
add(M, S, "The MNPI/insider wall-crossing log was reviewed.", "slash-joined")
add(M, S, "Board approved executive compensation changes ahead of the unreleased earnings call.", "two")
add(M, S, "Compliance: pre-clearance needed for insiders.", "insiders")
add(M, S, "Share the material non-public details only with the deal team.", "material non-public lower")
add(M, S, "Per counsel, treat the backlog numbers as MNPI until the 10-Q is filed.", "treat as MNPI")

# ---------------------------------------------------------------- privilege (legal_privilege)
R = "privilege"
add(R, L, "Privileged & Confidential — attorney-client communication.", "attorney-client")
add(R, L, "Attached are my attorney notes from the deposition.", "attorney notes")
add(R, L, "Our case strategy hinges on the timeline of the emails.", "case strategy")
add(R, L, "The settlement terms remain confidential per section 4.", "settlement terms")
add(R, L, "Schedule witness prep for Tuesday at 10.", "witness prep")
add(R, L, "Notes from today's settlement discussion with opposing counsel.", "settlement discussion")
add(R, L, "This memo contains legal advice and must not be forwarded.", "legal advice")
add(R, L, "ATTORNEY-CLIENT PRIVILEGED", "upper case")
add(R, L, "Witness Prep Outline — Dr. Hale", "title case")
add(R, L, "Please review the case strategy and the settlement terms before Friday.", "two markers")
add(R, L, "Forwarding Legal Advice re: lease termination.", "subject line")
add(R, L, "Privilege log entry 44: attorney notes, withheld.", "privilege log")
add(R, L, "Settlement discussions continue next week.", "plural settlement discussions")
add(R, L, "tool:send_email\nsubject=witness preparation schedule", "witness preparation (substring witness prep)")
add(R, L, "Redline the attorney–client section? No: the attorney-client section.", "en dash is not the marker")
add(R, L, "Revised settlement terms v2.docx", "file name")
add(R, L, "Internal: case strategy call moved to 3pm.", "calendar")
add(R, L, "Do not waive: this is legal advice from outside counsel.", "legal advice sentence")
add(R, L, "The attorney notes and the witness prep binder are in the DMS.", "two markers")
add(R, L, "Mediation: settlement discussion summary for the client only.", "mediation")
add(R, L, "The email chain is protected by attorney-client privilege.", "privilege sentence")
add(R, L, "Update CASE STRATEGY doc with new expert report.", "upper case")

# ---------------------------------------------------------------- secrets
import random
rng = random.Random(4)
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
def rand(n, chars=ALNUM):
    return "".join(rng.choice(chars) for _ in range(n))
def aws_secret():
    s = rand(1) + rand(38, ALNUM + "/+") + rand(1)
    assert not all(c in "0123456789abcdefABCDEF" for c in s)
    return s
def akia():
    return "AKIA" + rand(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
def ghp():
    return "ghp_" + rand(36)
X = "secret"
add(X, D, f"aws_access_key_id = [[AWS_ACCESS_KEY|{akia()}]]", "credentials file")
add(X, S, f"Use key [[AWS_ACCESS_KEY|AKIAIOSFODNN7EXAMPLE]] for the export job.", "AWS docs example id")
add(X, H, f"export AWS_ACCESS_KEY_ID=[[AWS_ACCESS_KEY|{akia()}]]", "shell export")
add(X, D, f'{{"AccessKeyId": "[[AWS_ACCESS_KEY|{akia()}]]", "Status": "Active"}}', "IAM JSON")
add(X, D, f"Leaked in CI log: [[AWS_ACCESS_KEY|{akia()}]] (rotated?)", "CI log")
add(X, D, f"aws_secret_access_key = [[AWS_SECRET_KEY|wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY]]", "AWS docs example secret")
add(X, S, f"secret key: [[AWS_SECRET_KEY|{aws_secret()}]]", "labelled (also not GENERIC_SECRET: 'key' between)")
add(X, H, f"AWS_SECRET_ACCESS_KEY=[[AWS_SECRET_KEY|{aws_secret()}]]", "env var")
add(X, D, f"creds: [[AWS_ACCESS_KEY|{akia()}]] / [[AWS_SECRET_KEY|{aws_secret()}]]", "pair")
add(X, D, f'{{"SecretAccessKey": "[[AWS_SECRET_KEY|{aws_secret()}]]"}}', "IAM JSON secret")
add(X, D, f"git remote set-url origin https://[[GITHUB_TOKEN|{ghp()}]]@github.com/acme/app.git", "token in remote URL; the spec EMAIL pattern also matches `token@github.com` (userinfo), counted as an EMAIL false positive")
add(X, S, f"GITHUB_TOKEN=[[GITHUB_TOKEN|{ghp()}]]", "env")
add(X, H, f"Authorization: token [[GITHUB_TOKEN|{ghp()}]]", "HTTP header")
add(X, D, f"Found a PAT in the wiki: [[GITHUB_TOKEN|{ghp()}]] — revoke it.", "prose")
add(X, D, f"[[GENERIC_API_KEY|api_key={rand(32)}]]", "api_key=")
add(X, S, f"X-API-Key: [[GENERIC_API_KEY|{rand(24)}]]", "header")
add(X, D, f'config.apikey = "[[GENERIC_API_KEY|{rand(28, ALNUM + "-_")}]]"', "apikey with quotes")
add(X, H, f"API-KEY: [[GENERIC_API_KEY|{rand(20)}]]", "upper case, minimum length 20")
add(X, D, f'{{"api_key": "[[GENERIC_API_KEY|sk_live_{rand(24)}]]"}}', "JSON (plugin addition: quote after the name)")
add(X, D, f"password=[[GENERIC_SECRET|Tr0ub4dor&3x]]", "password=")
add(X, S, f"DB_PASSWORD: '[[GENERIC_SECRET|x9!kQ2#vLm]]'", "YAML quoted")
add(X, H, f"client_secret = [[GENERIC_SECRET|{rand(30)}]]", "OAuth client secret")
add(X, D, f"pwd:[[GENERIC_SECRET|correct-horse-battery]]", "pwd:")
add(X, D, f"mysql -u root --passwd=[[GENERIC_SECRET|S3cure!Pass]] prod", "passwd= on a command line")
add(X, D, f'{{"password": "[[GENERIC_SECRET|hunter2hunter2]]"}}', "JSON (plugin addition)")
add(X, S, f"Your temporary Password: [[GENERIC_SECRET|Qw7$rtY9zP]]", "temporary password")
jwt1 = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
jwt2 = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJjZXJ0aW9yIiwiYXVkIjoiYXBpIiwiZXhwIjo0MTAyNDQ0ODAwfQ.dGhpcy1pcy1ub3QtYS1yZWFsLXNpZ25hdHVyZS1qdXN0LWEtdGVzdA"
jwt3 = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.eyJ1aWQiOjQyLCJyb2xlIjoiYWRtaW4ifQ.MEUCIQDx3fk-ZyQ_8mR2sQ"
add(X, D, f"Authorization: Bearer [[JWT_TOKEN|{jwt1}]]", "bearer header")
add(X, S, f"session cookie jwt=[[JWT_TOKEN|{jwt2}]]; Path=/", "cookie")
add(X, H, f"Paste this into the debugger: [[JWT_TOKEN|{jwt3}]]", "prose")
add(X, D, f'{{"id_token": "[[JWT_TOKEN|{jwt2}]]"}}', "JSON")
add(X, D, "[[PRIVATE_KEY|-----BEGIN RSA PRIVATE KEY-----]]\nMIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2\n-----END RSA PRIVATE KEY-----", "RSA PEM")
add(X, S, "key.pem:\n[[PRIVATE_KEY|-----BEGIN PRIVATE KEY-----]]\nMC4CAQAwBQYDK2VwBCIEIA…", "PKCS#8")
add(X, H, "[[PRIVATE_KEY|-----BEGIN EC PRIVATE KEY-----]]\nMHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB…", "EC")
add(X, D, "id_ed25519: [[PRIVATE_KEY|-----BEGIN OPENSSH PRIVATE KEY-----]] b3BlbnNzaC1rZXktdjEAAAAABG5vbmU…", "OpenSSH (plugin addition)")
add(X, D, f"SLACK_BOT_TOKEN=[[SLACK_TOKEN|xoxb-{rand(11,'0123456789')}-{rand(13,'0123456789')}-{rand(24)}]]", "bot token")
add(X, S, f"webhook auth: [[SLACK_TOKEN|xoxp-{rand(12,'0123456789')}-{rand(12,'0123456789')}-{rand(12,'0123456789')}-{rand(32, '0123456789abcdef')}]]", "user token")
add(X, H, f"Token [[SLACK_TOKEN|xoxa-2-{rand(30)}]] was posted in #general.", "app token")
add(X, D, f'slack: {{"token": "[[SLACK_TOKEN|xoxr-{rand(20)}]]"}}', "refresh token in JSON")

# ---------------------------------------------------------------- hard negatives
N = "negative"
# Luhn-invalid card numbers (same shapes as the positives, last digit changed)
for text, preset in [
    ("Card on file: 4532 0151 1283 0367, exp 09/27.", D),
    ("Copay charged to 5425-2334-3010-9904.", H),
    ("cc=6011000990139425", D),
    ("Customer read the number as 3528 0000 0000 0008 — it failed validation.", D),
    ("Test card 4111 1111 1111 1112 is rejected by the gateway (bad check digit).", D),
    ('{"pan": "5105105105105101", "status": "invalid"}', D),
    ("Autopay card 4024007153762984 was mistyped.", H),
    ("Typo in the card: 5555-5555-5555-4445.", D),
    ("Card 6271 8392 0016 5430 could not be charged.", H),
    ("Loyalty card 1234 5678 9012 3456 (not a payment card).", D),
    ("Gift card code 6006 4912 0000 1235", D),
    ("Tracking 9400 1000 0000 0000 0001 shows delivered.", D),
]:
    for m in re.finditer(r"(?=(\b(?:\d{4}[- ]?){3}\d{4}\b))", text):
        assert not luhn_ok(m.group(1)), text
    add(N, preset, text, "Luhn-invalid card-shaped number")

for text, preset, note in [
    # order numbers, invoices, tickets
    ("Order #A-20931-XK has shipped.", D, "order number"),
    ("PO-2024-00871 approved by procurement.", D, "purchase order"),
    ("Your order 100234987 will arrive Thursday.", D, "9-digit order number"),
    ("Invoice INV-2024-004417 is due in 30 days.", D, "invoice id"),
    ("Invoice 88213-A was paid on receipt.", H, "invoice with suffix"),
    ("Ticket OPS-4821 reopened after regression.", D, "ticket id"),
    ("RMA 77-1093-22 issued for the broken monitor.", D, "RMA"),
    ("Confirmation code: QX7P2L", D, "booking code"),
    ("Claim number CLM-000918273 is under review.", H, "claim number"),
    ("Shipment 1Z999AA10123456784 is out for delivery.", D, "UPS tracking"),
    ("Order ref 2024-118734 / line 3", D, "order ref with year"),
    ("Case #00123456 has been escalated.", D, "8-digit case number"),
    # versions, semver, builds
    ("Upgraded to v2.14.3 last night.", D, "semver"),
    ("Release 1.0.0-rc.2 is tagged.", D, "pre-release semver"),
    ("Python 3.11.4 and node 18.17.1 are installed.", D, "runtime versions"),
    ('"serde": "^1.0.197"', D, "cargo dependency"),
    ("Chrome 120.0.6099 crashed on startup.", D, "three-part browser version"),
    ("Bump wasmtime from 47.0.1 to 48.0.8", D, "dependabot title"),
    ("kernel 6.8.0-45-generic", D, "kernel version"),
    ("API version 2023-10-16 is deprecated.", D, "date-based API version"),
    ("Build 20240314.3 passed all checks.", D, "build number"),
    ("firmware=3.2.11 hw_rev=B", H, "firmware"),
    # ISBNs, standards, references
    ("ISBN 978-0-13-468599-1", D, "ISBN-13 hyphenated"),
    ("ISBN-13: 9780134685991", D, "ISBN-13 contiguous"),
    ("See ISBN 0-306-40615-2, chapter 4.", D, "ISBN-10"),
    ("DOI: 10.1038/s41586-020-2649-2", D, "DOI"),
    ("Per ISO 8601 and RFC 3339, timestamps carry offsets.", D, "standards"),
    ("CVE-2024-3094 affects xz 5.6.0 and 5.6.1.", D, "CVE id"),
    ("ICD-10 code E11.9, CPT 99213.", H, "billing codes"),
    ("NDC 0002-8215-01 is the insulin package code.", H, "NDC code"),
    # timestamps, dates without birth context
    ("2024-03-14T09:26:53Z INFO worker started", D, "ISO timestamp"),
    ("Appointment on 04/12/2024 at 10:30.", H, "date, no birth context"),
    ("Admitted 2024-01-15, discharged 2024-01-19.", H, "admission dates"),
    ("Follow-up scheduled for March 3, 2025.", H, "future date"),
    ("ts=1710408413123 level=warn", D, "unix milliseconds"),
    ("Last modified: Thu, 14 Mar 2024 09:26:53 GMT", D, "HTTP date"),
    ("Meeting moved from 10:00 to 14:30 (CET).", D, "times"),
    ("The company was born out of a 2019 hackathon; founded 2020-06-01.", D, "born without a date within 20 chars"),
    ("Quarter ended 09/30/2024; results on 10/24/2024.", D, "fiscal dates"),
    # zip codes, numbers, money
    ("Boston, MA 02139", D, "city and zip"),
    ("ZIP+4 94105-1804", D, "zip+4"),
    ("Deliveries to zip 10001 resume Monday.", D, "zip alone"),
    ("Revenue grew 12.5% to $4,218,900.", D, "money"),
    ("Call volume: 1,284 calls, avg 3.2 min.", H, "statistics"),
    ("Room 4120, extension 5521.", H, "room and extension"),
    ("Dial 555-0100 from a hotel phone.", D, "7-digit local number"),
    ("Lot 2024-118-03 expires 2026-05.", H, "lot number"),
    ("Coordinates 42.3601, -71.0589", D, "lat/long"),
    ("Serial SN-4471-9921-003", D, "serial"),
    ("Account ending in 4321 was credited.", D, "last four"),
    ("SSN last four: 6789", H, "partial SSN is not an SSN"),
    ("Phone extension 123-45", D, "short dashed number"),
    ("Part no. 123-45-67890 is backordered.", D, "SSN-like part number with extra digit"),
    # UUIDs, hashes, ids
    ("request_id=550e8400-e29b-41d4-a716-446655440000", D, "UUID"),
    ("trace 3fa85f64-5717-4562-b3fc-2c963f66afa6 completed", D, "UUID"),
    ("Execution 01HV9ZK3Q2W8N6F4T7R5YXJ0MB finished", D, "ULID"),
    ("commit 9fceb02d0ae598e95dc970b74767f19372d61af8", D, "git SHA-1 (hex, 40 chars)"),
    ("sha1: 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12", D, "SHA-1 digest"),
    ("sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", D, "SHA-256 digest"),
    ("etag: \"33a64df551425fcc55e4d42a148795d9f25f89d4\"", D, "ETag (hex)"),
    ("Docker image digest sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945", D, "image digest"),
    ("Object key: 2024/03/14/report-final.pdf", D, "object key path"),
    ("Model AB12345 is discontinued.", H, "model number, 5 digits"),
    # PII look-alikes
    ("Message @dana.lee on Slack for access.", D, "handle, not email"),
    ("Write to support at example dot com.", D, "obfuscated non-address"),
    ("user@localhost is the default sender in dev.", D, "no TLD"),
    ("Use the ${USER}@${HOST} template.", D, "template"),
    ("Version 1.2.3 ships soon; see section 4.2.", D, "dotted numbers with fewer than four parts"),
    ("Octets 256.100.1.1 are out of range.", D, "invalid IP"),
    ("Route 66 Road Trip planning notes.", D, "number + Road without words before suffix"),
    ("Top 5 tips to drive adoption of the portal.", H, "lowercase prose with suffix word"),
    ("Chapter 12: Moving the Way We Work", D, "title, colon breaks the address shape"),
    ("Take I-95 to exit 12, then follow signs.", D, "directions"),
    # secret look-alikes
    ("The API key rotates every 90 days.", D, "mentions api key, no value"),
    ("api_key: <your key here>", D, "placeholder"),
    ("password reset link sent to the user", D, "password reset"),
    ("secret: see vault", D, "too short after secret:"),
    ("Set password: min 12 characters, one symbol.", D, "policy text, value has a space"),
    ("AKIA prefix identifies long-term access keys.", D, "AKIA mentioned"),
    ("Tokens start with ghp_ and are 40 characters long.", D, "ghp_ mentioned"),
    ("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA…", D, "public key"),
    ("-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU…", D, "certificate"),
    ("Slack channel xoxo-fans is archived.", D, "xoxo is not a Slack token prefix"),
    ("eyJ is the base64 of '{\"' — JWTs start with it.", D, "eyJ mentioned"),
    # PHI keyword near-misses (hipaa)
    ("Patient satisfaction survey results are up 4 points.", H, "patient without name"),
    ("Please record the meeting for the medical staff.", H, "record / medical apart"),
    ("Treatment options were discussed; plan to revisit.", H, "treatment ... plan apart"),
    ("The prescribing guidelines were updated.", H, "prescribing"),
    ("Diagnostic imaging hours: 7am to 7pm.", H, "diagnostic"),
    ("Name of the clinic: Riverside Family Health.", H, "name without patient"),
    # MNPI near-misses (sox)
    ("Q3 earnings were released on Oct 24 and are public.", S, "released earnings"),
    ("Inside the report, figures match the 10-K.", S, "inside"),
    ("Public projections are in the investor deck.", S, "public projections"),
    ("Employee compensation bands are on the intranet.", S, "employee compensation"),
    ("Material changes were disclosed in the public 8-K.", S, "material ... public"),
    ("The insurance renewal is due in May.", S, "insurance"),
    # privilege near-misses (legal)
    ("The Attorney General issued a press release.", L, "attorney general"),
    ("Trade settlement date is T+1 for equities.", L, "settlement date"),
    ("See the case study on supply chains.", L, "case study"),
    ("Legal notice: terms of service updated.", L, "legal notice"),
    ("The witness statement was filed publicly.", L, "witness statement"),
    ("Client meeting notes are in the CRM.", L, "client notes"),
    ("Our strategy for the case competition is ready.", L, "strategy ... case"),
]:
    add(N, preset, text, note)

# ---------------------------------------------------------------- beyond the spec floor (reported, not gated)
B = "beyond_spec"
add(B, H, '{"date_of_birth": "[[DATE_OF_BIRTH|1983-02-28]]"}', "positive: JSON key date_of_birth (underscores, not a spec keyword)")
add(B, D, "Call [[PHONE|212 555 0147]] after five.", "positive: space-separated phone (spec allows - or . only)")
add(B, D, "Amex [[CREDIT_CARD|3782 822463 10005]] on file.", "positive: 15-digit Amex in 4-6-5 groups (spec pattern is 16 digits)")
add(B, H, "DOB: [[DATE_OF_BIRTH|12-03-1985]]", "positive: MM-DD-YYYY with dashes (not a spec date form)")
add(B, H, "Lives at [[STREET_ADDRESS|742 Evergreen Terrace]].", "positive: Terrace is not a spec suffix")
add(B, D, "Your Amazon order 113-4567890-1234567 has shipped.", "negative: marketplace order id; the spec PHONE pattern matches 113-4567890")
add(B, D, "created_at=1710408413 level=info", "negative: 10-digit Unix timestamp; the spec PHONE pattern matches any 10 digits")
add(B, D, "Assembly version 4.8.0.1 loaded.", "negative: four-part version; the spec IP_ADDRESS pattern matches it")
add(B, D, "password: ${DB_PASSWORD}", "negative: environment reference; the spec GENERIC_SECRET pattern matches any 8+ non-space characters")
add(B, D, "Open frontend/src/components/dashboard/Charts.tsx", "negative: path; a 40-character [A-Za-z0-9/+=] run between word boundaries is an AWS_SECRET_KEY by the spec pattern")
add(B, D, "Flight UA1234567 confirmation", "negative: two letters + 7 digits is an MRN by the spec pattern")


out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "detection.jsonl")
with open(out_path, "w") as f:
    for r in records:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
from collections import Counter
print(len(records), Counter(r["group"] for r in records))
c = Counter()
for r in records:
    for e in r["expect"]:
        c[e.get("entity", e.get("code"))] += 1
print(c)
