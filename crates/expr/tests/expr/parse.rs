//! The parser and the printer: Microsoft's documented expressions, the canonical form, error positions, limits.

use idplane_expr::{CompareOp, Expr, ExprError, MAX_DEPTH, MAX_EXPRESSION_LEN, MAX_NODES};

/// Every expression of Microsoft's function reference, the default SCIM mappings and Graph's samples.
pub const DOCUMENTED: &[&str] = &[
    r#"Append([userPrincipalName], ".test")"#,
    "AppRoleAssignmentsComplex([appRoleAssignments])",
    "BitAnd(&HF, &HF7)",
    "CBool([attribute1] = [attribute2])",
    "CDate([StatusHireDate])",
    r#"CDate("2021-06-30+08:00")"#,
    "Coalesce([mail],[userPrincipalName])",
    r#"ConvertToBase64("Hello world!")"#,
    r#"ConvertToUTF8Hex("Hello world!")"#,
    "Count([proxyAddresses])",
    "CStr([dn])",
    r#"DateAdd("d", 7, CDate([StatusHireDate]))"#,
    r#"DateDiff("d", Now(), CDate([StatusHireDate]))"#,
    "Switch([Active], , \n  \"1\", IIF(DateDiff(\"d\", Now(), CDate([StatusHireDate])) > 5, \"False\", \"True\"), \n  \"0\", \"False\")",
    "DateFromNum([lastLogonTimestamp])",
    "DateFromNum(129699324000000000)",
    r#"FormatDateTime([extensionAttribute1], , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")"#,
    "Guid()",
    "IgnoreFlowIfNullOrEmpty([department])",
    r#"IgnoreFlowIfNullOrEmpty(Switch([prefix], "", "3443", "Dr.", "3444", "Prof.", "3445", "Prof. Dr."))"#,
    r#"IIF([country]="USA",[country],[department])"#,
    r#"IIF([country]="USA",IIF([state]="CA","True","False"),"False")"#,
    r#"InStr("The quick brown fox","quick")"#,
    r#"InStr("repEated","e",3,vbBinaryCompare)"#,
    "IsNull([displayName])",
    "IsNullOrEmpty([displayName])",
    "Switch(IsPresent([directManager]),[directManager], IsPresent([skiplevelManager]),[skiplevelManager], IsPresent([director]),[director])",
    "Item([proxyAddresses], 1)",
    r#"Left("John Doe", 3)"#,
    "NormalizeDiacritics([givenName])",
    "Now()",
    r#"NumFromDate(Join("", FormatDateTime([ContractEndDate], ,"yyyy-MM-ddzzz", "yyyy-MM-dd"), " 23:59:59-08:00"))"#,
    r#"PCase([lastName]," '-")"#,
    r#"RandomString(10,2,2,2,1,"?,")"#,
    "Redact(RandomString(6,3,0,0,3))",
    "RemoveDuplicates([proxyAddresses])",
    r#"Replace([BusinessTitle],"Product Developer", , , "Software Engineer", , )"#,
    r#"Replace([UserID],"<username>", , , , , "<username>@contoso.com")"#,
    r#"Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", , "${phoneNumber}", , )"#,
    r#"Replace([AddressLineData], ,"(?<streetNumber>^\\d*)","streetNumber", "888", , )"#,
    r#"Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", "phoneNumber" , , [mobile], )"#,
    r#"Replace([mail], "@contoso.com", , ,"", ,)"#,
    "SelectUniqueValue( \n        Join(\"@\", NormalizeDiacritics(StripSpaces(Join(\".\",  [PreferredFirstName], [PreferredLastName]))), \"contoso.com\"), \n        Join(\"@\", NormalizeDiacritics(StripSpaces(Join(\".\",  Mid([PreferredFirstName], 1, 1), [PreferredLastName]))), \"contoso.com\")\n    )",
    "SingleAppRoleAssignment([appRoleAssignments])",
    r#"Split([extensionAttribute5], ",")"#,
    r#"Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney","QLD", "Australia/Brisbane", "SA", "Australia/Adelaide")"#,
    r#"ToLower(Join("@", NormalizeDiacritics(StripSpaces(Join(".",  [PreferredFirstName], [PreferredLastName]))), "contoso.com"))"#,
    r##"Word("This,string!has&many separators",3,",!&#")"##,
    r#"Join("", 1000, Replace(ConvertToUTF8Hex([objectId]), , "[a-zA-Z_]*", , "", , ))"#,
    r#"Switch([IsSoftDeleted], , "False", "True", "True", "False")"#,
    r#"Join(" ", [givenName], [surname])"#,
    "Not([IsSoftDeleted])",
    "Mid([userPrincipalName], 1, 8)",
    r#"Replace([preferredLanguage], "-", , , "_", ,  )"#,
    r#"Switch(IsPresent([jobTitle]), "DefaultValue", "True", [jobTitle])"#,
    "[urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber]",
];

#[test]
fn documented_expressions_parse_and_print_back() {
    for text in DOCUMENTED {
        let expr = Expr::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let printed = expr.to_string();
        assert_eq!(Expr::parse(&printed).as_ref(), Ok(&expr), "{text} printed as {printed}");
        assert_eq!(Expr::parse(&printed).unwrap().to_string(), printed, "printing is not a fixed point");
    }
}

#[test]
fn printing_is_canonical() {
    let cases = [
        // Graph's parseExpression: the request's double space is gone, the empty slots stay.
        (r#"Replace([preferredLanguage], "-", , , "_", ,  )"#, r#"Replace([preferredLanguage], "-", , , "_", , )"#),
        (
            r#"Switch([IsSoftDeleted], , "False", "True", "True", "False")"#,
            r#"Switch([IsSoftDeleted], , "False", "True", "True", "False")"#,
        ),
        ("Mid([userPrincipalName], 1, 8)", r#"Mid([userPrincipalName], "1", "8")"#),
        ("BitAnd(&HF, &HF7)", r#"BitAnd("&HF", "&HF7")"#),
        (r#"InStr("repEated","e",3,vbBinaryCompare)"#, r#"InStr("repEated", "e", "3", "vbBinaryCompare")"#),
        (r#"IIF([country]="USA",[country],[department])"#, r#"IIF([country] = "USA", [country], [department])"#),
        ("F(,)", "F(, )"),
        ("F(, a)", r#"F(, "a")"#),
        ("Guid( )", "Guid()"),
        ("  [mail]  ", "[mail]"),
        (r#""Company name: \"Contoso\"""#, r#""Company name: \"Contoso\"""#),
        (r#""C:\\dir\d""#, r#""C:\\dir\\d""#),
        ("Now ()", "Now()"),
        ("[a]<>[b]", "[a] <> [b]"),
        ("[a]>=-1", r#"[a] >= "-1""#),
    ];
    for (text, printed) in cases {
        assert_eq!(Expr::parse(text).unwrap().to_string(), printed, "{text}");
    }
}

#[test]
fn the_tree_has_slots_constants_and_comparisons() {
    let expr = Expr::parse(r#"Replace([x], "-", , , "_", , )"#).unwrap();
    let Expr::Call { function, args, .. } = &expr else { panic!("{expr:?}") };
    assert_eq!(function, "Replace");
    let present: Vec<bool> = args.iter().map(Option::is_some).collect();
    assert_eq!(present, [true, true, false, false, true, false, false]);
    assert_eq!(args[1], Some(Expr::constant("-")));
    assert_eq!(Expr::parse(r#""Company name: \"Contoso\"""#).unwrap(), Expr::constant(r#"Company name: "Contoso""#));
    assert_eq!(Expr::parse("Mid([x], 1, 8)").unwrap(), Expr::parse(r#"Mid([x], "1", "8")"#).unwrap());
    assert_eq!(
        Expr::parse("[a] <= 5").unwrap(),
        Expr::compare(CompareOp::Le, Expr::attribute("a"), Expr::constant("5"))
    );
    assert_eq!(Expr::parse("Guid()").unwrap(), Expr::call("Guid", vec![]));
    // Names keep their case; attribute names keep everything between the brackets.
    assert_eq!(Expr::parse("[ display Name ]").unwrap(), Expr::attribute(" display Name "));
    assert_eq!(Expr::parse("switch([x])").unwrap(), Expr::call("switch", vec![Some(Expr::attribute("x"))]));
    // Positions are 1-based characters, and do not take part in equality.
    let Expr::Call { args, .. } = Expr::parse("Join(\"é\", [b])").unwrap() else { panic!() };
    assert_eq!(args[1].as_ref().and_then(Expr::position), Some(11));
}

fn syntax(text: &str) -> (usize, String) {
    match Expr::parse(text) {
        Err(ExprError::Syntax { position, expected, found }) => (position, format!("{expected} / {found}")),
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn syntax_errors_say_where_and_what_was_expected() {
    let cases = [
        (r#"Join(" ", [givenName]"#, 22, "`,` or `)` / the end of the expression"),
        (r#"Join(" " [a])"#, 10, "`,` or `)` / `[`"),
        ("[givenName", 11, "`]` closing the attribute name / the end of the expression"),
        ("[]", 2, "an attribute name / `]`"),
        ("[a[b]]", 3, "`]` closing the attribute name / `[`"),
        (r#"Append("open, [x])"#, 8, "a string closed by `\"` / the end of the expression"),
        ("Mid([x], 1, 8))", 15, "the end of the expression / `)`"),
        ("", 1, "an attribute `[name]`, a string `\"...\"`, a function call or a constant / the end of the expression"),
        (",", 1, "an attribute `[name]`, a string `\"...\"`, a function call or a constant / `,`"),
        (
            "Join(,",
            7,
            "an attribute `[name]`, a string `\"...\"`, a function call or a constant / the end of the expression",
        ),
        (
            "[a] = ",
            7,
            "an attribute `[name]`, a string `\"...\"`, a function call or a constant / the end of the expression",
        ),
        ("1x([a])", 1, "a function name (letters, digits and `_`, starting with a letter) / `1x`"),
        ("[a] [b]", 5, "the end of the expression / `[`"),
    ];
    for (text, position, message) in cases {
        assert_eq!(syntax(text), (position, message.to_string()), "{text}");
    }
    let (position, message) = syntax("[a] = [b] = [c]");
    assert_eq!(position, 11);
    assert!(message.contains("comparisons do not chain"), "{message}");
    let e = Expr::parse(r#"Join(" " [a])"#).unwrap_err();
    assert_eq!(e.to_string(), "at character 10: expected `,` or `)`, found `[`");
}

#[test]
fn limits_are_enforced_with_their_reasons() {
    let long = format!("\"{}\"", "a".repeat(MAX_EXPRESSION_LEN - 1));
    assert!(
        matches!(Expr::parse(&long), Err(ExprError::TooLong { length, max: MAX_EXPRESSION_LEN }) if length == MAX_EXPRESSION_LEN + 1)
    );
    let fits = format!("\"{}\"", "a".repeat(MAX_EXPRESSION_LEN - 2));
    assert!(Expr::parse(&fits).is_ok());

    let nest = |depth: usize| format!("{}[x]{}", "F(".repeat(depth - 1), ")".repeat(depth - 1));
    assert_eq!(Expr::parse(&nest(MAX_DEPTH)).unwrap().depth(), MAX_DEPTH);
    let e = Expr::parse(&nest(MAX_DEPTH + 1)).unwrap_err();
    assert_eq!(e, ExprError::TooDeep { position: Some(2 * MAX_DEPTH + 1), max: MAX_DEPTH });
    // A comparison is a level too: its left side is counted again once the operator is seen.
    let compared = format!("{} = 1", nest(MAX_DEPTH));
    assert!(matches!(Expr::parse(&compared), Err(ExprError::TooDeep { position: Some(1), .. })));

    let wide = |constants: usize| format!("Join({})", vec!["1"; constants].join(","));
    assert_eq!(Expr::parse(&wide(MAX_NODES - 1)).unwrap().node_count(), MAX_NODES);
    assert_eq!(Expr::parse(&wide(MAX_NODES)).unwrap_err(), ExprError::TooManyNodes { max: MAX_NODES });
}
