//! Scoping filters: every operator, with nulls, empty strings, case and multi-valued attributes; groups and lists;
//! the catalogue; invalid filters; explanations.

use idplane_provisioning::Error;
use idplane_provisioning::schema::{AttributeDefinition, AttributeType, ObjectDefinition};
use idplane_provisioning::scoping::{
    Arity, CompiledFilter, Filter, FilterClause, FilterGroup, Operator, ScopeProblem, filter_operators, validate_filter,
};
use idplane_provisioning::source::SourceObject;
use serde_json::{Value, json};

/// Evaluates one clause against an object whose attribute `a` has that value (absent for `null`).
fn clause_holds(operator: &str, values: &[&str], actual: Value) -> bool {
    let filter = Filter {
        groups: vec![FilterGroup { name: "g".into(), clauses: vec![FilterClause::new(operator, "a", values)] }],
        ..Filter::default()
    };
    let compiled = CompiledFilter::compile(&filter).unwrap_or_else(|e| panic!("{operator}: {e:?}"));
    let object = SourceObject::new("User", "u1").with("a", actual);
    compiled.evaluate(&object).in_scope
}

#[test]
fn every_operator_as_documented() {
    let null = Value::Null;
    #[rustfmt::skip]
    let cases: &[(&str, &[&str], Value, bool)] = &[
        // EQUALS and NOT EQUALS: exact, case-sensitive.
        ("EQUALS", &["Sales"], json!("Sales"), true),
        ("EQUALS", &["Sales"], json!("sales"), false),
        ("EQUALS", &["Sales"], json!("Sales "), false),
        ("EQUALS", &["Sales", "Marketing"], json!("Marketing"), true),
        ("EQUALS", &["42"], json!(42), true),
        ("EQUALS", &["Sales"], null.clone(), false),
        ("EQUALS", &["Sales"], json!(""), false),
        ("NOT EQUALS", &["Sales"], json!("Marketing"), true),
        ("NOT EQUALS", &["Sales"], json!("sales"), true),
        ("NOT EQUALS", &["Sales"], json!("Sales"), false),
        ("NOT EQUALS", &["Sales", "Marketing"], json!("Marketing"), false),
        ("NOT EQUALS", &["Sales"], null.clone(), false),
        ("NOT EQUALS", &["Sales"], json!(""), false),
        // &: the attribute's value occurs in the clause's value; !& the opposite.
        ("&", &["Sales,Marketing"], json!("Sales"), true),
        ("&", &["Sales,Marketing"], json!("Finance"), false),
        ("&", &["Sales,Marketing"], json!("sales"), false),
        ("&", &["Sales,Marketing"], null.clone(), false),
        ("!&", &["Sales,Marketing"], json!("Finance"), true),
        ("!&", &["Sales,Marketing"], json!("Sales"), false),
        ("!&", &["Sales,Marketing"], json!(""), false),
        // ENDS_WITH and Includes: case-sensitive.
        ("ENDS_WITH", &["@contoso.com"], json!("jane@contoso.com"), true),
        ("ENDS_WITH", &["@contoso.com"], json!("jane@CONTOSO.com"), false),
        ("ENDS_WITH", &["@contoso.com"], json!("jane@contoso.com.evil"), false),
        ("ENDS_WITH", &["@contoso.com"], null.clone(), false),
        ("Includes", &["eng"], json!("Engineering"), false),
        ("Includes", &["ngin"], json!("Engineering"), true),
        ("Includes", &["ngin"], json!(""), false),
        // IS TRUE / IS FALSE: booleans, or their names in any case.
        ("IS TRUE", &[], json!(true), true),
        ("IS TRUE", &[], json!("True"), true),
        ("IS TRUE", &[], json!("TRUE"), true),
        ("IS TRUE", &[], json!(false), false),
        ("IS TRUE", &[], json!("yes"), false),
        ("IS TRUE", &[], null.clone(), false),
        ("IS FALSE", &[], json!(false), true),
        ("IS FALSE", &[], json!("false"), true),
        ("IS FALSE", &[], json!(true), false),
        ("IS FALSE", &[], null.clone(), false),
        ("IS FALSE", &[], json!(""), false),
        // IS NULL / IS NOT NULL: the one operator true on a null or empty value, and its opposite.
        ("IS NULL", &[], null.clone(), true),
        ("IS NULL", &[], json!(""), true),
        ("IS NULL", &[], json!([]), true),
        ("IS NULL", &[], json!(["", null]), true),
        ("IS NULL", &[], json!("x"), false),
        ("IS NULL", &[], json!(false), false),
        ("IS NOT NULL", &[], json!("x"), true),
        ("IS NOT NULL", &[], json!(0), true),
        ("IS NOT NULL", &[], null.clone(), false),
        ("IS NOT NULL", &[], json!(""), false),
        // REGEX MATCH: a match anywhere, case-sensitive; NOT REGEX MATCH false on null or empty.
        ("REGEX MATCH", &[".*\\@domain.com"], json!("jane@domain.com"), true),
        ("REGEX MATCH", &["@domain\\.com$"], json!("jane@domain.com"), true),
        ("REGEX MATCH", &["^@domain\\.com$"], json!("jane@domain.com"), false),
        ("REGEX MATCH", &["([1-9][0-9])"], json!("42"), true),
        ("REGEX MATCH", &["DOMAIN"], json!("jane@domain.com"), false),
        ("REGEX MATCH", &[".*"], json!(""), false),
        ("REGEX MATCH", &[".*"], null.clone(), false),
        ("NOT REGEX MATCH", &[".*\\@domain.com"], json!("jane@other.com"), true),
        ("NOT REGEX MATCH", &[".*\\@domain.com"], json!("jane@domain.com"), false),
        ("NOT REGEX MATCH", &[".*\\@domain.com"], null.clone(), false),
        ("NOT REGEX MATCH", &[".*\\@domain.com"], json!(""), false),
        // Greater_Than / Greater_Than_OR_EQUALS: integers, from numbers or numeric strings.
        ("Greater_Than", &["1000000"], json!("1500000"), true),
        ("Greater_Than", &["1000000"], json!(1000000), false),
        ("Greater_Than", &["1000000"], json!(" 1000001 "), true),
        ("Greater_Than", &["10"], json!("9"), false),
        ("Greater_Than", &["10"], json!("eleven"), false),
        ("Greater_Than", &["10"], null.clone(), false),
        ("Greater_Than_OR_EQUALS", &["1000000"], json!(1000000), true),
        ("Greater_Than_OR_EQUALS", &["-5"], json!("-5"), true),
        ("Greater_Than_OR_EQUALS", &["1000000"], json!("999999"), false),
        ("Greater_Than_OR_EQUALS", &["1"], json!(""), false),
        // Multi-valued attributes: every value must satisfy the clause.
        ("ENDS_WITH", &["@contoso.com"], json!(["a@contoso.com", "b@contoso.com"]), true),
        ("ENDS_WITH", &["@contoso.com"], json!(["a@contoso.com", "b@fabrikam.com"]), false),
        ("NOT EQUALS", &["x"], json!(["a", "b"]), true),
        ("EQUALS", &["a"], json!([]), false),
    ];
    for (operator, values, actual, expected) in cases {
        assert_eq!(clause_holds(operator, values, actual.clone()), *expected, "{operator} {values:?} on {actual}");
    }
}

#[test]
fn operator_names_are_read_in_any_case_and_with_any_separator() {
    for name in ["IS NULL", "IS_NULL", "IsNull", "isnull", "is-null", " Is Null "] {
        assert_eq!(Operator::parse(name), Some(Operator::IsNull), "{name}");
    }
    for name in ["Greater_Than_OR_EQUALS", "GREATER THAN OR EQUALS", "GreaterThanOrEquals"] {
        assert_eq!(Operator::parse(name), Some(Operator::GreaterThanOrEquals), "{name}");
    }
    assert_eq!(Operator::parse("NOT EQUALS"), Some(Operator::NotEquals));
    assert_eq!(Operator::parse("&"), Some(Operator::ContainedIn));
    assert_eq!(Operator::parse("!&"), Some(Operator::NotContainedIn));
    assert_eq!(Operator::parse("Includes"), Some(Operator::Includes));
    assert_eq!(Operator::parse("ENDSWITH"), Some(Operator::EndsWith));
    assert_eq!(Operator::parse("EQUAL"), None);
    assert_eq!(Operator::parse("IsMemberOf"), None);
    assert_eq!(Operator::parse(""), None);
    for operator in Operator::ALL {
        assert_eq!(Operator::parse(operator.name()), Some(operator));
    }
}

#[test]
fn clauses_and_groups_or_and_an_empty_filter_admits_everything() {
    let object = SourceObject::new("User", "u1").with("department", "Sales").with("country", "US");
    let group = |name: &str, clauses: Vec<FilterClause>| FilterGroup { name: name.into(), clauses };
    let sales_in_fr = group(
        "Sales in FR",
        vec![FilterClause::new("EQUALS", "department", &["Sales"]), FilterClause::new("EQUALS", "country", &["FR"])],
    );
    let sales_in_us = group(
        "Sales in US",
        vec![FilterClause::new("EQUALS", "department", &["Sales"]), FilterClause::new("EQUALS", "country", &["US"])],
    );
    let evaluate = |filter: Filter| CompiledFilter::compile(&filter).unwrap().evaluate(&object);

    let both = evaluate(Filter { groups: vec![sales_in_fr.clone(), sales_in_us], ..Filter::default() });
    assert!(both.in_scope);
    assert_eq!(both.groups.matched_group.as_deref(), Some("Sales in US"));
    assert!(!both.groups.groups[0].passed);
    assert!(both.groups.groups[0].clauses[0].passed && !both.groups.groups[0].clauses[1].passed);

    let only_fr = evaluate(Filter { groups: vec![sales_in_fr.clone()], ..Filter::default() });
    assert!(!only_fr.in_scope);
    assert_eq!(only_fr.groups.matched_group, None);

    let empty = evaluate(Filter::default());
    assert!(empty.in_scope);
    assert_eq!(empty.scope_evaluation_result(), "{}");

    // A group with no clause admits; input filter groups are a list of their own, reported apart.
    let input = evaluate(Filter {
        groups: vec![group("anyone", Vec::new())],
        input_filter_groups: vec![sales_in_fr],
        ..Filter::default()
    });
    assert!(input.groups.admits && !input.input_filter_groups.admits && !input.in_scope);
}

#[test]
fn the_evaluation_explains_itself() {
    let filter = Filter {
        groups: vec![FilterGroup {
            name: "Engineers".into(),
            clauses: vec![
                FilterClause::new("EQUALS", "department", &["Engineering"]),
                FilterClause::new("IS NOT NULL", "jobTitle", &[]),
            ],
        }],
        ..Filter::default()
    };
    let object = SourceObject::new("User", "u1").with("department", "Sales");
    let evaluation = CompiledFilter::compile(&filter).unwrap().evaluate(&object);
    let clauses = &evaluation.groups.groups[0].clauses;
    assert_eq!(clauses[0].reason, "'Sales' does not satisfy EQUALS 'Engineering'");
    assert_eq!(clauses[0].actual, json!("Sales"));
    assert_eq!(clauses[1].reason, "'jobTitle' is null or empty");
    let result: Value = serde_json::from_str(&evaluation.scope_evaluation_result()).unwrap();
    assert_eq!(result["inScope"], json!(false));
    assert_eq!(result["groups"]["groups"][0]["clauses"][1]["operator"], json!("IS_NOT_NULL"));
}

#[test]
fn invalid_filters_are_validation_errors_not_panics() {
    let long_pattern = "a".repeat(1_001);
    let cases = [
        (FilterClause::new("REGEX MATCH", "mail", &["(unclosed"]), "InvalidRegex"),
        (FilterClause::new("REGEX MATCH", "mail", &["(?=lookahead)"]), "InvalidRegex"),
        (FilterClause::new("NOT REGEX MATCH", "mail", &[&long_pattern]), "InvalidRegex"),
        (FilterClause::new("REGEX MATCH", "mail", &["a{1000}{1000}"]), "InvalidRegex"),
        (FilterClause::new("Greater_Than", "employeeId", &["1e6"]), "NotAnInteger"),
        (FilterClause::new("EQUALS", "department", &[]), "MissingValue"),
        (FilterClause::new("SOUNDS LIKE", "department", &["x"]), "UnknownOperator"),
        (FilterClause::new("EQUALS", " ", &["x"]), "MissingSourceAttribute"),
    ];
    for (clause, expected) in cases {
        let filter = Filter {
            groups: vec![FilterGroup { name: "f".into(), clauses: vec![clause.clone()] }],
            ..Filter::default()
        };
        let Err(Error::InvalidFilter { issues }) = CompiledFilter::compile(&filter) else { panic!("{clause:?}") };
        assert_eq!(issues.len(), 1, "{clause:?}: {issues:?}");
        assert!(format!("{:?}", issues[0].problem).starts_with(expected), "{clause:?}: {:?}", issues[0].problem);
        assert_eq!(issues[0].location.clause, 1);
        assert!(!issues[0].to_string().is_empty());
    }
}

#[test]
fn clauses_are_checked_against_the_source_attributes_and_their_types() {
    let user = ObjectDefinition {
        name: "User".into(),
        attributes: vec![
            AttributeDefinition::new("accountEnabled", AttributeType::Boolean),
            AttributeDefinition::new("department", AttributeType::String),
            AttributeDefinition::new("employeeId", AttributeType::String),
            AttributeDefinition::new("manager", AttributeType::Reference),
        ],
        ..ObjectDefinition::default()
    };
    let filter = Filter {
        groups: vec![FilterGroup {
            name: String::new(),
            clauses: vec![
                FilterClause::new("IS TRUE", "accountEnabled", &[]),
                FilterClause::new("ENDS_WITH", "accountEnabled", &["x"]),
                FilterClause::new("EQUALS", "Department", &["x"]),
                FilterClause::new("IS NULL", "manager", &[]),
                FilterClause::new("EQUALS", "manager", &["m1"]),
                FilterClause::new("Greater_Than", "employeeId", &["1000000"]),
            ],
        }],
        ..Filter::default()
    };
    let issues = validate_filter(&filter, Some(&user));
    let problems: Vec<&ScopeProblem> = issues.iter().map(|i| &i.problem).collect();
    assert_eq!(
        problems,
        [
            &ScopeProblem::UnsupportedAttributeType {
                operator: Operator::EndsWith,
                attribute: "accountEnabled".into(),
                attribute_type: AttributeType::Boolean
            },
            &ScopeProblem::UnknownSourceAttribute { name: "Department".into(), suggestion: Some("department".into()) },
            &ScopeProblem::UnsupportedAttributeType {
                operator: Operator::Equals,
                attribute: "manager".into(),
                attribute_type: AttributeType::Reference
            },
        ]
    );
    assert_eq!(issues[0].location.group, "#1");
    assert_eq!(issues[1].location.clause, 3);
    assert_eq!(
        issues[0].to_string(),
        "scoping filter '#1' (groups), clause 2: ENDS_WITH cannot test 'accountEnabled', a Boolean attribute: it \
         tests String attributes"
    );
}

#[test]
fn the_catalogue_lists_every_operator() {
    let catalogue = filter_operators();
    assert_eq!(catalogue.len(), Operator::ALL.len());
    let equals = serde_json::to_value(&catalogue[3]).unwrap();
    // The shape of Microsoft's sample response.
    assert_eq!(
        equals,
        json!({"name": "EQUALS", "arity": "Binary", "multivaluedComparisonType": "All",
               "supportedAttributeTypes": ["String", "Integer"]})
    );
    for schema in &catalogue {
        let operator = Operator::parse(&schema.name).unwrap();
        let unary = matches!(operator, Operator::IsNull | Operator::IsNotNull | Operator::IsTrue | Operator::IsFalse);
        assert_eq!(schema.arity == Arity::Unary, unary, "{}", schema.name);
    }
}

#[test]
fn a_filter_reads_as_graph_writes_it() {
    let graph = json!({
        "groups": [{"name": "Sales in US", "clauses": [
            {"operatorName": "EQUALS", "sourceOperandName": "department", "targetOperand": {"values": ["Sales"]}},
            {"operatorName": "IS NOT NULL", "sourceOperandName": "mail", "targetOperand": null}]}],
        "inputFilterGroups": [],
        "categoryFilterGroups": null
    });
    let filter: Filter = serde_json::from_value(graph).unwrap();
    assert_eq!(filter.groups[0].clauses[1].target_operand.values, Vec::<String>::new());
    assert!(filter.category_filter_groups.is_empty());
    let written = serde_json::to_value(&filter).unwrap();
    assert_eq!(written["categoryFilterGroups"], json!([]));
    assert_eq!(written["groups"][0]["clauses"][1]["targetOperand"], json!({"values": []}));
    // Numbers where Graph has strings.
    let clause: FilterClause = serde_json::from_value(
        json!({"operatorName": "Greater_Than", "sourceOperandName": "employeeId", "targetOperand": {"values": [1000000]}}),
    )
    .unwrap();
    assert_eq!(clause.target_operand.values, ["1000000"]);
}
