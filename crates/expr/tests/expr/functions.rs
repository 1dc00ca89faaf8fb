//! Every function against the examples of Microsoft's reference ("Reference for writing expressions for attribute
//! mappings in Microsoft Entra ID", functions-for-customizing-application-data.md; each case names its section),
//! the role examples of "Customize user provisioning attribute-mappings" (customize-application-attributes.md), and
//! Graph's samples; then nulls, empty slots and multi-valued inputs.

use idplane_expr::{Environment, Evaluation, Expr, ExprError, ROLE_TYPE, Value, diacritics_table};
use serde_json::json;
use time::macros::datetime;

use crate::support::{SplitMix64, error, evaluate, multi, object, s, value};

/// `(section, expression, input, expected)`: the expected value's string form ([`Value::texts`]); `None` for null.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, Value)>, Option<&'a str>);

fn check(cases: Vec<Case<'_>>) {
    for (section, expression, input, expected) in cases {
        let got = value(expression, &input);
        let got = if got == Value::Null { None } else { Some(got.texts().join("|")) };
        assert_eq!(got.as_deref(), expected, "§{section}: {expression}");
    }
}

#[test]
fn documented_string_examples() {
    check(vec![
        (
            "Append",
            r#"Append([userPrincipalName], ".test")"#,
            vec![("userPrincipalName", s("John.Doe@contoso.com"))],
            Some("John.Doe@contoso.com.test"),
        ),
        ("ConvertToBase64", r#"ConvertToBase64("Hello world!")"#, vec![], Some("SABlAGwAbABvACAAdwBvAHIAbABkACEA")),
        ("ConvertToUTF8Hex", r#"ConvertToUTF8Hex("Hello world!")"#, vec![], Some("48656C6C6F20776F726C6421")),
        ("CStr", "CStr([dn])", vec![("dn", s("cn=Joe,dc=contoso,dc=com"))], Some("cn=Joe,dc=contoso,dc=com")),
        (
            "Coalesce",
            "Coalesce([mail],[userPrincipalName])",
            vec![("userPrincipalName", s("John.Doe@contoso.com"))],
            Some("John.Doe@contoso.com"),
        ),
        ("Left", r#"Left("John Doe", 3)"#, vec![], Some("Joh")),
        ("NormalizeDiacritics", "NormalizeDiacritics([givenName])", vec![("givenName", s("Zoë"))], Some("Zoe")),
        (
            "PCase",
            "PCase([firstName])",
            vec![("firstName", s("PABLO GONSALVES (SECOND)"))],
            Some("Pablo Gonsalves (Second)"),
        ),
        ("PCase", r#"PCase([lastName]," '-")"#, vec![("lastName", s("PINTO-DE'SILVA"))], Some("Pinto-De'Silva")),
        (
            "PCase",
            r#"PCase(Join(" ",[firstName],[lastName]))"#,
            vec![("firstName", s("GREGORY")), ("lastName", s("JAMES"))],
            Some("Gregory James"),
        ),
        (
            "Switch",
            r#"Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney","QLD", "Australia/Brisbane", "SA", "Australia/Adelaide")"#,
            vec![("state", s("QLD"))],
            Some("Australia/Brisbane"),
        ),
        (
            "Switch (note)",
            r#"Switch(ToLower([statusFlag]), "0", "true", "1", "false", "0")"#,
            vec![("statusFlag", s("TRUE"))],
            Some("1"),
        ),
        (
            "Switch (caution)",
            r#"Switch([statusFlag], "Default Value", "true", "1", "", "0")"#,
            vec![("statusFlag", s(""))],
            Some("0"),
        ),
        ("Switch (caution)", r#"Switch([statusFlag], "Default Value", "true", "1", "", "0")"#, vec![], Some("0")),
        (
            "Switch (caution)",
            r#"Switch([statusFlag], "Default Value", "true", "1", "", "0")"#,
            vec![("statusFlag", s("other"))],
            Some("Default Value"),
        ),
        (
            "Switch (caution, resolution)",
            r#"IIF([companyName] = "Company A", "A", IIF([companyName] = "Company B", "B", "External"))"#,
            vec![("companyName", s("Company B"))],
            Some("B"),
        ),
        (
            "ToLower",
            r#"ToLower(Join("@", NormalizeDiacritics(StripSpaces(Join(".",  [PreferredFirstName], [PreferredLastName]))), "contoso.com"))"#,
            vec![("PreferredFirstName", s("John")), ("PreferredLastName", s("Smith"))],
            Some("john.smith@contoso.com"),
        ),
        ("Word", r#"Word("The quick brown fox",3," ")"#, vec![], Some("brown")),
        ("Word", r##"Word("This,string!has&many separators",3,",!&#")"##, vec![], Some("has")),
        (
            "Split",
            r#"Split([extensionAttribute5], ",")"#,
            vec![("extensionAttribute5", s("PermissionSetOne, PermissionSetTwo"))],
            Some("PermissionSetOne|PermissionSetTwo"),
        ),
        (
            "Examples: Strip known domain name",
            r#"Replace([mail], "@contoso.com", , ,"", ,)"#,
            vec![("mail", s("john.doe@contoso.com"))],
            Some("john.doe"),
        ),
        (
            "Examples: Generate user alias",
            "Append(Mid([givenName], 1, 3), Mid([surname], 1, 5))",
            vec![("givenName", s("John")), ("surname", s("Doe"))],
            Some("JohDoe"),
        ),
        (
            "Examples: Add a comma",
            r#"Join(", ", "", [surname], [givenName])"#,
            vec![("givenName", s("John")), ("surname", s("Doe"))],
            Some("Doe, John"),
        ),
        // The doc's sample output belongs to another (anonymised) objectId; this is the output for the sample input.
        (
            "Examples: Generate an ID",
            r#"Join("", 1000, Replace(ConvertToUTF8Hex([objectId]), , "[a-zA-Z_]*", , "", , ))"#,
            vec![("objectId", s("00aa00aa-bb11-cc22-dd33-44ee44ee44ee"))],
            Some("100030306161303061612626231312636332322646433332343465653434656534346565"),
        ),
        (
            "Graph parseExpression",
            r#"Replace([preferredLanguage], "-", , , "_", ,  )"#,
            vec![("preferredLanguage", s("EN-US"))],
            Some("EN_US"),
        ),
        (
            "scim default mapping",
            r#"Join(" ", [givenName], [surname])"#,
            vec![("givenName", s("Jane")), ("surname", s("Doe"))],
            Some("Jane Doe"),
        ),
    ]);
}

#[test]
fn documented_replace_examples() {
    check(vec![
        (
            "Replace, Example 1",
            r#"Replace([BusinessTitle],"Product Developer", , , "Software Engineer", , )"#,
            vec![("BusinessTitle", s("Product Developer"))],
            Some("Software Engineer"),
        ),
        (
            "Replace, Example 2",
            r#"Replace([UserID],"<username>", , , , , "<username>@contoso.com")"#,
            vec![("UserID", s("jsmith"))],
            Some("jsmith@contoso.com"),
        ),
        (
            "Replace, Example 3",
            r#"Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", , "${phoneNumber}", , )"#,
            vec![("telephoneNumber", s("+91 9998887777"))],
            Some("9998887777"),
        ),
        // The doc prints 19998887777, but `+` is not in the class and .NET keeps it too.
        (
            "Replace, Example 3",
            r#"Replace([mobile], , "[()\\s-]+", , "", , )"#,
            vec![("mobile", s("+1 (999) 888-7777"))],
            Some("+19998887777"),
        ),
        (
            "Replace, Example 4",
            r#"Replace([AddressLineData], ,"(?<streetNumber>^\\d*)","streetNumber", "888", , )"#,
            vec![("AddressLineData", s("545 Tremont Street"))],
            Some("888 Tremont Street"),
        ),
        (
            "Replace, Example 4",
            r#"Replace([userPrincipalName], , "(?<Suffix>@(.)*)", "Suffix", "", , )"#,
            vec![("userPrincipalName", s("jsmith@contoso.com"))],
            Some("jsmith"),
        ),
        (
            "Replace, Example 5",
            r#"Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", "phoneNumber" , , [mobile], )"#,
            vec![("telephoneNumber", s("")), ("mobile", s("+91 8887779999"))],
            Some("8887779999"),
        ),
        (
            "Replace, Example 5 (source has a value)",
            r#"Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", "phoneNumber" , , [mobile], )"#,
            vec![("telephoneNumber", s("+1 425")), ("mobile", s("+91 8887779999"))],
            Some("+1 425"),
        ),
        (
            "Replace, Example 5 (attribute named by a constant)",
            r#"Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", "phoneNumber" , , "mobile", )"#,
            vec![("mobile", s("+91 8887779999"))],
            Some("8887779999"),
        ),
        (
            "Replace, Example 6",
            r#"Replace([mailNickname], , "[a-zA-Z_]*", , "", , )"#,
            vec![("mailNickname", s("john_doe72"))],
            Some("72"),
        ),
        (
            ".NET substitutions",
            r#"Replace([x], , "(\w+) (\w+)", , "$2 $1 $$ ${1}! $& [$`|$'] $+ ${nope}", , )"#,
            vec![("x", s("<ab cd>"))],
            Some("<cd ab $ ab! ab cd [<|>] cd ${nope}>"),
        ),
        ("single backslashes", r##"Replace([x], , "\d+", , "#", , )"##, vec![("x", s("a1b22"))], Some("a#b#")),
    ]);
}

#[test]
fn documented_conditions_and_predicates() {
    let usa = vec![("country", s("USA")), ("state", s("WA")), ("department", s("Sales"))];
    let france = vec![("country", s("France")), ("state", s("CA")), ("department", s("Sales"))];
    check(vec![
        ("IIF", r#"IIF([country]="USA",[country],[department])"#, usa.clone(), Some("USA")),
        ("IIF", r#"IIF([country]="USA",[country],[department])"#, france.clone(), Some("Sales")),
        ("IIF, AND", r#"IIF([country]="USA",IIF([state]="CA","True","False"),"False")"#, usa.clone(), Some("False")),
        ("IIF, OR", r#"IIF([country]="USA","True",IIF([state]="CA","True","False"))"#, france.clone(), Some("True")),
        // Known limitations: the condition check fails when an attribute it reads is null or empty.
        ("IIF, unsupported", r#"IIF([country]="","Other",[country])"#, vec![("country", s(""))], None),
        ("IIF, unsupported", r#"IIF(IsNullOrEmpty([country]),"Other",[country])"#, vec![], None),
        ("IIF, unsupported", r#"IIF(IsPresent([country]),[country],"Other")"#, vec![], None),
        ("IIF, workaround", r#"Switch([country],[country],"","Other")"#, vec![], Some("Other")),
        (
            "IIF, workaround",
            r#"Switch([country],[country],"","Other")"#,
            vec![("country", s("Norway"))],
            Some("Norway"),
        ),
        (
            "CBool",
            "CBool([attribute1] = [attribute2])",
            vec![("attribute1", s("x")), ("attribute2", s("x"))],
            Some("True"),
        ),
        (
            "CBool",
            "CBool([attribute1] = [attribute2])",
            vec![("attribute1", s("x")), ("attribute2", s("X"))],
            Some("False"),
        ),
        ("IsNull", "IsNull([displayName])", vec![], Some("True")),
        ("IsNull", "IsNull([displayName])", vec![("displayName", s(""))], Some("False")),
        ("IsNullOrEmpty", "IsNullOrEmpty([displayName])", vec![("displayName", s(""))], Some("True")),
        ("IsPresent", "IsPresent([displayName])", vec![("displayName", s("Jo"))], Some("True")),
        ("IsString", "IsString([displayName])", vec![("displayName", s("Jo"))], Some("True")),
        ("IsString", "IsString([accountEnabled])", vec![("accountEnabled", Value::Boolean(true))], Some("False")),
        (
            "scim default mapping",
            r#"Switch([IsSoftDeleted], , "False", "True", "True", "False")"#,
            vec![("IsSoftDeleted", Value::Boolean(false))],
            Some("True"),
        ),
        (
            "scim default mapping",
            r#"Switch([IsSoftDeleted], , "False", "True", "True", "False")"#,
            vec![("IsSoftDeleted", Value::Boolean(true))],
            Some("False"),
        ),
        (
            "Graph objectMapping sample",
            "Not([IsSoftDeleted])",
            vec![("IsSoftDeleted", Value::Boolean(false))],
            Some("True"),
        ),
        ("Not", "Not([flag])", vec![("flag", s("true"))], Some("False")),
        ("Not", "Not([flag])", vec![("flag", s("maybe"))], Some("True")),
        ("InStr", r#"InStr("The quick brown fox","quick")"#, vec![], Some("5")),
        ("InStr", r#"InStr("repEated","e",3,vbBinaryCompare)"#, vec![], Some("7")),
        ("InStr, vbTextCompare", r#"InStr("repEated","e",3,vbTextCompare)"#, vec![], Some("4")),
        ("InStr, not found", r#"InStr("repEated","x")"#, vec![], Some("0")),
        ("BitAnd", "BitAnd(&HF, &HF7)", vec![], Some("7")),
        (
            "Item",
            "Item([proxyAddresses], 1)",
            vec![("proxyAddresses", multi(&["SMTP:a@x", "smtp:b@x"]))],
            Some("SMTP:a@x"),
        ),
        ("Count", "Count([proxyAddresses])", vec![("proxyAddresses", multi(&["SMTP:a@x", "smtp:b@x"]))], Some("2")),
        (
            "RemoveDuplicates",
            "RemoveDuplicates([proxyAddresses])",
            vec![("proxyAddresses", multi(&["a", "b", "a", "c", "b"]))],
            Some("a|b|c"),
        ),
        (
            "DefaultDomain",
            r#"Join("@", [mailNickname], DefaultDomain())"#,
            vec![("mailNickname", s("johns"))],
            Some("johns@contoso.com"),
        ),
    ]);
}

#[test]
fn documented_date_examples() {
    let hire = |date: &str| vec![("StatusHireDate", s(date))];
    check(vec![
        ("CDate, Example 1", "CDate([StatusHireDate])", hire("2020-03-16-07:00"), Some("3/16/2020 7:00:00 AM")),
        ("CDate, Example 2", r#"CDate("2021-06-30+08:00")"#, vec![], Some("6/29/2021 4:00:00 PM")),
        ("CDate, Example 3", r#"CDate("2009-06-15T01:45:30-07:00")"#, vec![], Some("6/15/2009 8:45:30 AM")),
        (
            "DateAdd",
            r#"DateAdd("d", 7, CDate([StatusHireDate]))"#,
            hire("2012-03-16-07:00"),
            Some("3/23/2012 7:00:00 AM"),
        ),
        (
            "DateAdd",
            r#"DateAdd("d", -10, CDate([StatusHireDate]))"#,
            hire("2012-03-16-07:00"),
            Some("3/6/2012 7:00:00 AM"),
        ),
        (
            "DateAdd",
            r#"DateAdd("ww", 2, CDate([StatusHireDate]))"#,
            hire("2012-03-16-07:00"),
            Some("3/30/2012 7:00:00 AM"),
        ),
        (
            "DateAdd",
            r#"DateAdd("m", 10, CDate([StatusHireDate]))"#,
            hire("2012-03-16-07:00"),
            Some("1/16/2013 7:00:00 AM"),
        ),
        (
            "DateAdd",
            r#"DateAdd("yyyy", 2, CDate([StatusHireDate]))"#,
            hire("2012-03-16-07:00"),
            Some("3/16/2014 7:00:00 AM"),
        ),
        ("DateDiff", r#"DateDiff("d", CDate("2021-08-18+08:00"), CDate("2021-08-31+08:00"))"#, vec![], Some("13")),
        ("DateDiff", r#"DateDiff("d", CDate("2021-08-31+08:00"), CDate("2021-08-31+08:00"))"#, vec![], Some("0")),
        ("DateDiff", r#"DateDiff("h", CDate("2021-08-24"), CDate("2021-08-25"))"#, vec![], Some("24")),
        ("DateDiff", r#"DateDiff("n", CDate("2021-08-24"), CDate("2021-08-25"))"#, vec![], Some("1440")),
        ("DateDiff", r#"DateDiff("s", CDate("2021-08-24"), CDate("2021-08-25"))"#, vec![], Some("86400")),
        ("DateFromNum", "DateFromNum(129699324000000000)", vec![], Some("1/1/2012 11:00:00 PM")),
        (
            "DateFromNum",
            "DateFromNum([lastLogonTimestamp])",
            vec![("lastLogonTimestamp", Value::Integer(129_699_324_000_000_000))],
            Some("1/1/2012 11:00:00 PM"),
        ),
        (
            "FormatDateTime",
            r#"FormatDateTime([extensionAttribute1], , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")"#,
            vec![("extensionAttribute1", s("20150123105347.1Z"))],
            Some("2015-01-23"),
        ),
        (
            "FormatDateTime, three arguments",
            r#"FormatDateTime([extensionAttribute1], "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")"#,
            vec![("extensionAttribute1", s("20150123105347.1Z"))],
            Some("2015-01-23"),
        ),
        (
            "FormatDateTime, a date source",
            r#"FormatDateTime(CDate("2021-06-30+08:00"), , "ignored", "o")"#,
            vec![],
            Some("2021-06-29T16:00:00.0000000Z"),
        ),
        (
            "NumFromDate, Workday",
            r#"NumFromDate(Join("", FormatDateTime([ContractEndDate], ,"yyyy-MM-ddzzz", "yyyy-MM-dd"), " 23:59:59-08:00"))"#,
            vec![("ContractEndDate", s("2020-12-31-08:00"))],
            Some("132539615990000000"),
        ),
        (
            "NumFromDate, SuccessFactors",
            r#"NumFromDate(Join("",FormatDateTime([endDate], ,"M/d/yyyy hh:mm:ss tt","yyyy-MM-dd")," 23:59:59-08:00"))"#,
            vec![("endDate", s("12/31/2020 12:00:00 AM"))],
            Some("132539615990000000"),
        ),
        ("Now", "Now()", vec![], Some("7/2/2021 3:33:38 PM")),
    ]);
    // DateDiff: the rows from 8/25/2021 5:41:18 PM to the hire date 2012-03-16-07:00.
    let rows = [("d", "-3449"), ("ww", "-493"), ("m", "-113"), ("yyyy", "-9")];
    let expressions: Vec<String> = rows
        .iter()
        .map(|(interval, _)| {
            format!(r#"DateDiff("{interval}", CDate("8/25/2021 5:41:18 PM"), CDate([StatusHireDate]))"#)
        })
        .collect();
    check(
        expressions
            .iter()
            .zip(rows)
            .map(|(expression, (_, expected))| {
                ("DateDiff", expression.as_str(), hire("2012-03-16-07:00"), Some(expected))
            })
            .collect(),
    );
}

/// Evaluates at another time than the support's clock.
fn at(now: time::OffsetDateTime, expression: &str, pairs: &[(&str, Value)]) -> Value {
    let mut rng = SplitMix64(1);
    let mut random = || rng.next();
    let mut env = Environment { now, default_domain: None, random: &mut random };
    Expr::parse(expression).unwrap().evaluate(&object(pairs), &mut env).unwrap().value
}

#[test]
fn datediff_example_2_enables_accounts_hired_within_five_days() {
    // DateDiff, Example 2: combine DateDiff with IIF.
    let expression = r#"Switch([Active], ,
  "1", IIF(DateDiff("d", Now(), CDate([StatusHireDate])) > 5, "False", "True"),
  "0", "False")"#;
    let now = datetime!(2021-08-25 17:41:18 UTC);
    let hired = |date: &str, active: &str| at(now, expression, &[("Active", s(active)), ("StatusHireDate", s(date))]);
    assert_eq!(hired("2021-09-05", "1"), s("False"));
    assert_eq!(hired("2021-08-28", "1"), s("True"));
    assert_eq!(hired("2021-08-28", "0"), s("False"));
    // The table's rows measured from Now() = 8/25/2021 5:41:18 PM.
    assert_eq!(at(now, r#"DateDiff("d", Now(), CDate("2012-03-16-07:00"))"#, &[]), Value::Integer(-3449));
}

#[test]
fn ignore_flow_if_null_or_empty_drops_the_attribute() {
    // IgnoreFlowIfNullOrEmpty, Example 1.
    for department in [Value::Null, s("")] {
        let evaluation = evaluate("IgnoreFlowIfNullOrEmpty([department])", &[("department", department)]).unwrap();
        assert!(evaluation.ignore_flow);
        assert_eq!(evaluation.value, Value::Null);
    }
    let kept = evaluate("IgnoreFlowIfNullOrEmpty([department])", &[("department", s("Sales"))]).unwrap();
    assert!(!kept.ignore_flow);
    assert_eq!(kept.value, s("Sales"));
    // Example 2: a Switch that matches no key gives its default "", and the attribute does not flow.
    let expression =
        r#"IgnoreFlowIfNullOrEmpty(Switch([prefix], "", "3443", "Dr.", "3444", "Prof.", "3445", "Prof. Dr."))"#;
    assert!(evaluate(expression, &[("prefix", s("9999"))]).unwrap().ignore_flow);
    let professor = evaluate(expression, &[("prefix", s("3444"))]).unwrap();
    assert_eq!((professor.ignore_flow, professor.value), (false, s("Prof.")));
}

#[test]
fn redact_hides_values_from_logs_only() {
    // Redact, Examples 1 to 3.
    let upn = evaluate("Redact([userPrincipalName])", &[("userPrincipalName", s("john@contoso.com"))]).unwrap();
    assert_eq!((upn.redact, upn.value.clone()), (true, s("john@contoso.com")));
    assert_eq!(upn.logged(), json!("[Redact]"));
    assert_eq!(evaluate(r#"Redact("StringToBeRedacted")"#, &[]).unwrap().value, s("StringToBeRedacted"));
    let random = evaluate("Redact(RandomString(6,3,0,0,3))", &[]).unwrap();
    assert!(random.redact);
    let plain = evaluate("[userPrincipalName]", &[("userPrincipalName", s("john@contoso.com"))]).unwrap();
    assert_eq!((plain.redact, plain.logged()), (false, json!("john@contoso.com")));
}

fn count(text: &str, class: impl Fn(char) -> bool) -> usize {
    text.chars().filter(|c| class(*c)).count()
}

#[test]
fn random_string_meets_its_minimums_and_avoids_characters() {
    // RandomString, Example 1: 6 characters, 3 numbers and 3 lower case letters.
    let Value::String(one) = value("RandomString(6,3,0,0,3)", &[]) else { panic!("not a string") };
    assert_eq!(one.chars().count(), 6);
    assert!(count(&one, |c| c.is_ascii_digit()) >= 3 && count(&one, |c| c.is_ascii_lowercase()) >= 3, "{one}");
    // Example 2: 10 characters, at least 2 numbers, 2 special, 2 capitals, 1 lower case, no `?` and no `,`.
    for seed in 0..200 {
        let mut rng = SplitMix64(seed);
        let mut random = || rng.next();
        let mut env = Environment { now: crate::support::NOW, default_domain: None, random: &mut random };
        let expr = Expr::parse(r#"RandomString(10,2,2,2,1,"?,")"#).unwrap();
        let Value::String(two) = expr.evaluate(&object(&[]), &mut env).unwrap().value else { panic!("not a string") };
        assert_eq!(two.chars().count(), 10);
        assert!(count(&two, |c| c.is_ascii_digit()) >= 2, "{two}");
        assert!(count(&two, |c| c.is_ascii_punctuation()) >= 2, "{two}");
        assert!(count(&two, |c| c.is_ascii_uppercase()) >= 2, "{two}");
        assert!(count(&two, |c| c.is_ascii_lowercase()) >= 1, "{two}");
        assert!(!two.contains(['?', ',']), "{two}");
    }
    // The same seed gives the same string; the limit is 256.
    assert_eq!(value("RandomString(12,1,1,1,1)", &[]), value("RandomString(12,1,1,1,1)", &[]));
    assert!(error("RandomString(257,0,0,0,0)", &[]).to_string().contains("256"));
    assert!(error("RandomString(3,2,2,0,0)", &[]).to_string().contains("more than Length"));
    assert!(error(r#"RandomString(3,1,0,0,0,"0123456789")"#, &[]).to_string().contains("numbers"));
}

#[test]
fn guid_is_a_random_version_4_guid() {
    // Guid: "00aa00aa-bb11-cc22-dd33-44ee44ee44ee"-shaped.
    let Value::String(guid) = value("Guid()", &[]) else { panic!("not a string") };
    let groups: Vec<usize> = guid.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{guid}");
    assert!(guid.chars().all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{guid}");
    assert_eq!(&guid[14..15], "4");
    assert!("89ab".contains(&guid[19..20]), "{guid}");
    // Lazy branches draw nothing: the Guid in the branch not taken does not change the one that runs.
    assert_eq!(value(r#"IIF([x]="a", Guid(), Guid())"#, &[("x", s("b"))]), s(&guid));
}

#[test]
fn app_role_functions_build_scim_roles() {
    // customize-application-attributes.md, "Provisioning a role to a SCIM app".
    let assignments = Value::Multi(vec![
        Value::Object(json!({"id": "06b07648", "value": "Admin", "displayName": "Admin"}).as_object().unwrap().clone()),
        s("User"),
    ]);
    let input = [("appRoleAssignments", assignments)];
    let complex = evaluate("AppRoleAssignmentsComplex([appRoleAssignments])", &input).unwrap();
    let expected = json!([
        {"primary": false, "type": ROLE_TYPE, "display": "Admin", "value": "Admin"},
        {"primary": false, "type": ROLE_TYPE, "display": "User", "value": "User"}
    ]);
    assert_eq!((complex.value.to_json(), complex.assertive), (expected.clone(), false));
    let assertive = evaluate("AssertiveAppRoleAssignmentsComplex([appRoleAssignments])", &input).unwrap();
    assert_eq!((assertive.value.to_json(), assertive.assertive), (expected, true));
    // No assignments: no roles, which an assertive mapping uses to remove every role.
    let none = evaluate("AssertiveAppRoleAssignmentsComplex([appRoleAssignments])", &[]).unwrap();
    assert_eq!(none.value, Value::Multi(vec![]));
    // SingleAppRoleAssignment: one role, primary, whose string form is its value.
    let single = value("SingleAppRoleAssignment([appRoleAssignments])", &input);
    assert_eq!(single.to_json(), json!({"primary": true, "type": ROLE_TYPE, "display": "Admin", "value": "Admin"}));
    assert_eq!(value("CStr(SingleAppRoleAssignment([appRoleAssignments]))", &input), s("Admin"));
    assert_eq!(value("SingleAppRoleAssignment([appRoleAssignments])", &[]), Value::Null);
}

#[test]
fn normalize_diacritics_applies_every_row_of_the_table() {
    let table: Vec<(&str, &str)> = diacritics_table().collect();
    assert!(table.len() > 250, "{} rows", table.len());
    for (sequence, replacement) in table {
        let got = value("NormalizeDiacritics([x])", &[("x", s(&format!("<{sequence}>")))]);
        assert_eq!(
            got,
            s(&format!("<{replacement}>")),
            "{sequence:?} ({:x?})",
            sequence.chars().map(u32::from).collect::<Vec<_>>()
        );
    }
    // Decomposed input is composed first; characters outside the table stay; œ is not in it, œ̄ is.
    assert_eq!(value("NormalizeDiacritics([x])", &[("x", s("Zoe\u{308} Ĥ œ œ\u{304}"))]), s("Zoe Ĥ œ oe"));
}

#[test]
fn case_functions_follow_the_culture() {
    assert_eq!(value(r#"ToUpper([x], "tr-TR")"#, &[("x", s("istanbul"))]), s("İSTANBUL"));
    assert_eq!(value("ToUpper([x])", &[("x", s("istanbul straße"))]), s("ISTANBUL STRAßE"));
    assert_eq!(value(r#"ToLower([x], "az")"#, &[("x", s("IRMAK"))]), s("ırmak"));
    assert_eq!(value(r#"ToLower([x], "en-US")"#, &[("x", s("IRMAK"))]), s("irmak"));
    assert!(error(r#"ToLower([x], "not a culture")"#, &[("x", s("a"))]).to_string().contains("culture"));
    assert_eq!(value("StripSpaces([x])", &[("x", s(" Mary Ann\tLee "))]), s("MaryAnn\tLee"));
}

#[test]
fn nulls_propagate_except_where_documented() {
    for expression in [
        r#"Append([missing], "x")"#,
        r#"Prepend("x", [missing])"#,
        "Mid([missing], 1, 2)",
        "ToLower([missing])",
        "NormalizeDiacritics([missing])",
        r#"Replace([missing], "a", , , "b", , )"#,
        r#"Split([missing], ",")"#,
        "CDate([missing])",
        r#"DateAdd("d", 1, [missing])"#,
        "Not([missing])",
        "CStr([missing])",
        "Coalesce([missing], [other])",
        r#"Join(",", [missing], [other])"#,
        r#"[missing] = "x""#,
        r#"IIF([missing] = "x", "yes", "no")"#,
        "Item([missing], 1)",
        "RemoveDuplicates([missing])",
        r#"FormatDateTime([missing], , "yyyy", "yyyy")"#,
    ] {
        assert_eq!(value(expression, &[]), Value::Null, "{expression}");
    }
    // Documented exceptions: Left and Word of null are "", Count is 0, Join of an empty string is "".
    assert_eq!(value("Left([missing], 2)", &[]), s(""));
    assert_eq!(value(r#"Word([missing], 1, " ")"#, &[]), s(""));
    assert_eq!(value("Count([missing])", &[]), Value::Integer(0));
    assert_eq!(value(r#"Join(",", [missing], [empty])"#, &[("empty", s(""))]), s(""));
    assert_eq!(value(r#"Append([x], [missing])"#, &[("x", s("a"))]), s("a"));
    assert_eq!(value(r#"Coalesce([missing], "", "x")"#, &[]), s(""));
}

#[test]
fn empty_slots_are_absent_arguments() {
    assert_eq!(value(r#"Switch([x], , "a", "1")"#, &[("x", s("b"))]), Value::Null);
    assert_eq!(value(r#"InStr("abcabc", "c", , vbBinaryCompare)"#, &[]), Value::Integer(3));
    assert_eq!(value(r#"PCase([x], )"#, &[("x", s("ANNE-MARIE"))]), s("Anne-Marie"));
    assert_eq!(value(r#"ToUpper([x], )"#, &[("x", s("i"))]), s("I"));
    let e = error(r#"Replace([x], , , , "b", , )"#, &[("x", s("a"))]);
    assert!(e.to_string().contains("Find"), "{e}");
}

#[test]
fn multi_valued_inputs() {
    let proxies = multi(&["SMTP:a@x", "smtp:b@x", "smtp:a@x"]);
    let input = [("proxyAddresses", proxies), ("one", multi(&["only"])), ("none", Value::Multi(vec![]))];
    assert_eq!(value(r#"Join(";", [proxyAddresses], "extra")"#, &input), s("SMTP:a@x;smtp:b@x;smtp:a@x;extra"));
    assert_eq!(value("Item([proxyAddresses], 3)", &input), s("smtp:a@x"));
    assert_eq!(value("Count([none])", &input), Value::Integer(0));
    assert_eq!(value("IsNull([none])", &input), Value::Boolean(true));
    assert_eq!(value("ToUpper([one])", &input), s("ONLY"));
    assert_eq!(value("Item([one], 1)", &input), s("only"));
    assert_eq!(value(r#"Split(Join(",", [proxyAddresses]), ",")"#, &input).texts().len(), 3);
    let e = error("ToUpper([proxyAddresses])", &input);
    assert!(matches!(e, ExprError::InvalidArgument { ref parameter, .. } if parameter == "source"), "{e}");
    assert!(e.to_string().contains("3 values"), "{e}");
    for index in ["0", "4", "-1"] {
        let e = error(&format!("Item([proxyAddresses], {index})"), &input);
        assert!(e.to_string().contains("outside the 3 values"), "{e}");
    }
}

#[test]
fn comparisons_order_by_type() {
    let cases = [
        (r#""10" > "9""#, true),
        (r#""b" > "a""#, true),
        (r#""B" = "b""#, false),
        (r#"[n] >= 5"#, true),
        (r#"CDate("2021-01-02") > CDate("2021-01-01T23:00:00")"#, true),
        (r#"CDate("2021-01-02") = "1/2/2021""#, true),
        (r#"[flag] = "true""#, true),
        (r#"[flag] <> "False""#, true),
        (r#""a" <= "a""#, true),
        (r#""a" < "a""#, false),
    ];
    for (expression, expected) in cases {
        let got = value(expression, &[("n", Value::Integer(5)), ("flag", Value::Boolean(true))]);
        assert_eq!(got, Value::Boolean(expected), "{expression}");
    }
}

#[test]
fn evaluation_errors_are_typed() {
    let bad: &[(&str, &str)] = &[
        ("CDate([x])", "is not a date"),
        (r#"Replace([x], , "(?<=a)b", , "c", , )"#, "regular expression"),
        (r#"Replace([x], , "(a", , "c", , )"#, "regular expression"),
        (r#"Replace([x], , "a", "nope", "c", , )"#, "no group `nope`"),
        (r#"FormatDateTime([x], , "yyyy-MM-dd", "yyyy")"#, "does not match"),
        (r#"FormatDateTime([x], "Sideways", "yyyy-MM-dd", "yyyy")"#, "DateTimeStyles"),
        (r#"DateAdd("fortnight", 1, CDate("2021-01-01"))"#, "not an interval"),
        (r#"DateAdd("yyyy", 9000, CDate("2021-01-01"))"#, "outside years"),
        ("DateFromNum(-1)", "negative"),
        ("DateFromNum(9223372036854775807)", "beyond year 9999"),
        ("Mid([x], 0, 2)", "first character is 1"),
        ("Mid([x], 1, -2)", "negative"),
        (r#"InStr([x], "a", 0)"#, "first character is 1"),
        ("CBool([x])", "neither True, False"),
        ("BitAnd([x], 1)", "not a whole number"),
        (r#"IIF([x], "a", "b")"#, "not a condition"),
        ("SelectUniqueValue([x], [x])", "not supported for a SCIM target"),
    ];
    for (expression, expected) in bad {
        let e = error(expression, &[("x", s("garbage"))]);
        assert!(e.to_string().contains(expected), "{expression}: {e}");
        assert!(e.position().is_some(), "{expression}: {e}");
    }
    // DefaultDomain without a configured domain.
    let mut rng = SplitMix64(0);
    let mut random = || rng.next();
    let mut env = Environment { now: crate::support::NOW, default_domain: None, random: &mut random };
    let e = Expr::parse("DefaultDomain()").unwrap().evaluate(&object(&[]), &mut env).unwrap_err();
    assert!(matches!(e, ExprError::NoDefaultDomain { position: Some(1) }), "{e}");
}

#[test]
fn values_cannot_grow_without_bound() {
    // Each ConvertToUTF8Hex doubles its input: the 21st of them would make 2 MiB of one byte.
    let mut expression = "[x]".to_string();
    for _ in 0..21 {
        expression = format!("ConvertToUTF8Hex({expression})");
    }
    let e = error(&expression, &[("x", s("a"))]);
    assert!(matches!(e, ExprError::ValueTooLarge { .. }), "{e}");
    let template = format!(r#"Replace([x], "a", , , , , "{}")"#, "a".repeat(2000));
    let mut nested = "[x]".to_string();
    for _ in 0..3 {
        nested = template.replace("[x]", &nested);
    }
    let e = error(&nested, &[("x", s(&"b".repeat(1000)))]);
    assert!(matches!(e, ExprError::ValueTooLarge { .. }), "{e}");
}

#[test]
fn evaluation_returns_the_flags_of_its_whole_tree() {
    let evaluation: Evaluation =
        evaluate(r#"Join(",", Redact([a]), IgnoreFlowIfNullOrEmpty([b]))"#, &[("a", s("x"))]).unwrap();
    assert!(evaluation.redact && evaluation.ignore_flow && !evaluation.assertive);
}

#[test]
fn extreme_numbers_are_answers_or_errors_never_overflows() {
    assert_eq!(value(r#"Word("a b", -9223372036854775808, " ")"#, &[]), s(""));
    let e = error("RandomString(10, 9223372036854775807, 9223372036854775807, 0, 0)", &[]);
    assert!(e.to_string().contains("more than Length"), "{e}");
    let e = error(r#"FormatDateTime("123456789012", , "yyyyyyyyyyyy", "yyyy")"#, &[]);
    assert!(e.to_string().contains("does not match"), "{e}");
    let e = error("Item([x], -9223372036854775808)", &[("x", s("a"))]);
    assert!(e.to_string().contains("outside the 1 values"), "{e}");
    let e = error(r#"DateAdd("s", 9223372036854775807, Now())"#, &[]);
    assert!(e.to_string().contains("outside years"), "{e}");
}
