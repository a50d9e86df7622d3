//! Identity end to end: registration, login, rotation, logout, admin user management.

use certior_e2e::{server_with_admin, Client, Server};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn whole_auth_flow() {
    let server = Server::start().await;
    let api = server.client();

    let reply = api
        .post(
            "/api/v1/auth/register",
            &json!({"email": "  Alice@Example.COM ", "password": "password-1", "name": ""}),
            None,
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["email"], "alice@example.com");
    assert_eq!(
        reply.body["name"], "alice@example.com",
        "empty name falls back to the email"
    );
    assert_eq!(reply.body["role"], "operator");
    let first_key = reply.body["api_key"].as_str().unwrap().to_string();
    assert!(first_key.starts_with("ck-") && first_key.len() == 46);

    let me = api.get("/api/v1/auth/me", Some(&first_key)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["email"], "alice@example.com");
    assert_eq!(me.body["is_active"], true);
    assert!(me.body["created_at"].as_f64().unwrap() > 1.7e9, "epoch seconds");
    let mut keys: Vec<_> = me.body.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["created_at", "email", "id", "is_active", "name", "role"]);

    // X-API-Key works as well as Bearer.
    let by_header = Client::send(
        api.request(Method::GET, "/api/v1/auth/me")
            .header("X-API-Key", &first_key),
    )
    .await;
    assert_eq!(by_header.status, 200);

    let wrong = api
        .post(
            "/api/v1/auth/login",
            &json!({"email": "alice@example.com", "password": "wrong-password"}),
            None,
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.detail(), "Invalid email or password.");

    // Login issues a new key; the first stays valid. Credentials on login never cause 401.
    let login = Client::send(
        api.request(Method::POST, "/api/v1/auth/login")
            .bearer_auth("ck-not-a-real-key")
            .json(&json!({"email": "ALICE@example.com", "password": "password-1"})),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let login_key = login.body["api_key"].as_str().unwrap().to_string();
    assert_ne!(login_key, first_key);
    assert_eq!(login.body["user"]["email"], "alice@example.com");
    assert_eq!(api.get("/api/v1/auth/me", Some(&first_key)).await.status, 200);

    // Rotate kills only the presenting key; an empty body with a JSON content type is fine.
    let rotate = Client::send(
        api.request(Method::POST, "/api/v1/auth/rotate")
            .bearer_auth(&login_key)
            .header("Content-Type", "application/json"),
    )
    .await;
    assert_eq!(rotate.status, 200, "{}", rotate.text);
    let rotated_key = rotate.body["api_key"].as_str().unwrap().to_string();
    let dead = api.get("/api/v1/auth/me", Some(&login_key)).await;
    assert_eq!((dead.status, dead.detail()), (401, "Invalid API key."));
    assert_eq!(api.get("/api/v1/auth/me", Some(&rotated_key)).await.status, 200);
    assert_eq!(api.get("/api/v1/auth/me", Some(&first_key)).await.status, 200);

    // Rotate with a JSON body is accepted too.
    let rotate_again = api
        .post("/api/v1/auth/rotate", &json!({"anything": 1}), Some(&first_key))
        .await;
    assert_eq!(rotate_again.status, 200);
    assert_eq!(api.get("/api/v1/auth/me", Some(&first_key)).await.status, 401);

    let logout = api.post("/api/v1/auth/logout", &json!({}), Some(&rotated_key)).await;
    assert_eq!(
        (logout.status, logout.body.clone()),
        (200, json!({"status": "logged_out"}))
    );
    assert_eq!(api.get("/api/v1/auth/me", Some(&rotated_key)).await.status, 401);
}

#[tokio::test]
async fn error_statuses_have_the_documented_bodies() {
    let server = Server::start().await;
    let api = server.client();
    let key = api
        .register(&json!({"email": "bob@example.com", "password": "password-1"}), None)
        .await;

    let missing = api.get("/api/v1/auth/me", None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.detail(),
        "Missing API key.  Supply via Authorization: Bearer <key> or X-API-Key header."
    );
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    let invalid = api.get("/api/v1/auth/me", Some("ck-unknown")).await;
    assert_eq!((invalid.status, invalid.detail()), (401, "Invalid API key."));
    assert_eq!(invalid.header("www-authenticate"), Some("Bearer"));
    // Other schemes are ignored, so Basic alone is a missing key.
    let basic = Client::send(
        api.request(Method::GET, "/api/v1/auth/me")
            .header("Authorization", "Basic Ym9iOnB3"),
    )
    .await;
    assert_eq!(basic.status, 401);
    assert!(basic.detail().starts_with("Missing API key."));

    let forbidden = api.get("/api/v1/auth/users", Some(&key)).await;
    assert_eq!(
        (forbidden.status, forbidden.detail()),
        (403, "Requires one of: ['admin']")
    );

    let unknown = api.get("/api/v1/nothing-here", Some(&key)).await;
    assert_eq!(
        (unknown.status, unknown.body.clone()),
        (404, json!({"detail": "Not Found"}))
    );
    assert_eq!(unknown.header("content-type"), Some("application/json"));
    let trailing = api.get("/api/v1/auth/me/", Some(&key)).await;
    assert_eq!(trailing.status, 404, "no trailing-slash redirects");

    let wrong_method = Client::send(api.request(Method::DELETE, "/api/v1/auth/me").bearer_auth(&key)).await;
    assert_eq!(
        (wrong_method.status, wrong_method.body.clone()),
        (405, json!({"detail": "Method Not Allowed"}))
    );

    let duplicate = api
        .post("/api/v1/auth/register", &json!({"email": "BOB@example.com"}), None)
        .await;
    assert_eq!(
        (duplicate.status, duplicate.detail()),
        (409, "Email already registered.")
    );

    let bad_role = api
        .post(
            "/api/v1/auth/register",
            &json!({"email": "carol@example.com", "role": "superuser"}),
            None,
        )
        .await;
    assert_eq!(bad_role.status, 400);
    assert_eq!(
        bad_role.detail(),
        "Invalid role.  Choose from: ['admin', 'operator', 'viewer', 'auditor', 'approver', 'policy_author']"
    );

    // 413 comes before authentication. The client gets the answer rather than a reset, and
    // its pooled connection stays usable for the requests that follow.
    for _ in 0..3 {
        let huge = "x".repeat(1_048_577);
        let too_large = Client::send(api.request(Method::POST, "/api/v1/auth/rotate").body(huge)).await;
        assert_eq!(
            (too_large.status, too_large.detail()),
            (413, "Request body exceeds 1 MiB.")
        );
        assert_eq!(api.get("/health", None).await.status, 200);
    }

    let malformed = Client::send(api.request(Method::POST, "/api/v1/auth/login").body("{\"email\": ")).await;
    assert_eq!(malformed.status, 422);
    assert!(
        malformed.detail().starts_with("Request body is not valid JSON: "),
        "{}",
        malformed.detail()
    );
    assert_eq!(malformed.body["errors"][0]["type"], "json_invalid");

    let not_object = api.post("/api/v1/auth/login", &json!([1, 2]), None).await;
    assert_eq!(not_object.status, 422);
    assert_eq!(not_object.body["errors"][0]["type"], "dict_type");

    let missing_field = api
        .post("/api/v1/auth/login", &json!({"password": "password-1"}), None)
        .await;
    assert_eq!(missing_field.status, 422);
    assert_eq!(missing_field.detail(), "Missing required field 'email'.");
    assert_eq!(
        missing_field.body["errors"],
        json!([{"loc": ["body", "email"], "msg": "Field required", "type": "missing"}])
    );

    let wrong_types = api
        .post(
            "/api/v1/auth/register",
            &json!({"email": 42, "password": "short", "name": true}),
            None,
        )
        .await;
    assert_eq!(wrong_types.status, 422);
    assert_eq!(
        wrong_types.detail(),
        "Invalid value for 'email': Input should be a valid string (2 more error(s))."
    );
    let kinds: Vec<_> = wrong_types.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(
        kinds,
        [json!("string_type"), json!("string_type"), json!("string_too_short")]
    );

    let bad_query = api.get("/api/v1/auth/users?limit=0", Some(&key)).await;
    assert_eq!(bad_query.status, 403, "role gate runs before query validation");
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_email() {
    let server = Server::start().await;
    let api = server.client();
    api.register(&json!({"email": "dave@example.com", "password": "password-1"}), None)
        .await;
    let attempt = json!({"email": "dave@example.com", "password": "not-the-password"});
    for _ in 0..10 {
        assert_eq!(api.post("/api/v1/auth/login", &attempt, None).await.status, 401);
    }
    let limited = api.post("/api/v1/auth/login", &attempt, None).await;
    assert_eq!(
        (limited.status, limited.detail()),
        (429, "Too many login attempts. Try again later.")
    );
    let retry_after: u64 = limited.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=900).contains(&retry_after));
    // The right password is refused too while the window is full.
    let right = api
        .post(
            "/api/v1/auth/login",
            &json!({"email": "dave@example.com", "password": "password-1"}),
            None,
        )
        .await;
    assert_eq!(right.status, 429);
    // Another email from the same address is still fine (the per-IP limit is 50).
    api.register(&json!({"email": "erin@example.com", "password": "password-1"}), None)
        .await;
    let other = api
        .post(
            "/api/v1/auth/login",
            &json!({"email": "erin@example.com", "password": "password-1"}),
            None,
        )
        .await;
    assert_eq!(other.status, 200);
}

#[tokio::test]
async fn privileged_self_registration_is_refused() {
    let (server, admin_key) = server_with_admin().await;
    let api = server.client();
    for role in ["admin", "approver", "auditor", "policy_author"] {
        let body = json!({"email": format!("{role}@example.com"), "role": role});
        let anonymous = api.post("/api/v1/auth/register", &body, None).await;
        assert_eq!(anonymous.status, 403, "{role}");
        assert_eq!(
            anonymous.detail(),
            format!("Only an administrator can assign the role '{role}'.")
        );
        // A non-admin key counts as anonymous: still 403, never 401.
        let viewer_key = api
            .register(
                &json!({"email": format!("v-{role}@example.com"), "role": "viewer"}),
                None,
            )
            .await;
        assert_eq!(
            api.post("/api/v1/auth/register", &body, Some(&viewer_key)).await.status,
            403
        );
        let by_admin = api.post("/api/v1/auth/register", &body, Some(&admin_key)).await;
        assert_eq!((by_admin.status, by_admin.body["role"].as_str()), (201, Some(role)));
    }
    let invalid_credential = api
        .post(
            "/api/v1/auth/register",
            &json!({"email": "x@example.com"}),
            Some("ck-bogus"),
        )
        .await;
    assert_eq!(invalid_credential.status, 201, "register never answers 401");
}

#[tokio::test]
async fn closed_registration_admits_only_administrators() {
    let server = Server::start_with(&[
        ("CERTIOR_OPEN_REGISTRATION", "FALSE"),
        ("CERTIOR_BOOTSTRAP_ADMIN_EMAIL", "root@example.com"),
        ("CERTIOR_BOOTSTRAP_ADMIN_PASSWORD", "bootstrap-secret"),
    ])
    .await;
    let api = server.client();
    let closed = api
        .post("/api/v1/auth/register", &json!({"email": "new@example.com"}), None)
        .await;
    assert_eq!((closed.status, closed.detail()), (403, "Registration is closed."));
    let login = api
        .post(
            "/api/v1/auth/login",
            &json!({"email": "root@example.com", "password": "bootstrap-secret"}),
            None,
        )
        .await;
    let admin_key = login.body["api_key"].as_str().unwrap();
    api.register(&json!({"email": "new@example.com"}), Some(admin_key))
        .await;
}

#[tokio::test]
async fn data_survives_a_restart() {
    let server = Server::start().await;
    let api = server.client();
    let key = api
        .register(&json!({"email": "frank@example.com", "password": "password-1"}), None)
        .await;
    let server = server.restart().await;
    let api = server.client();
    let me = api.get("/api/v1/auth/me", Some(&key)).await;
    assert_eq!((me.status, me.body["email"].as_str()), (200, Some("frank@example.com")));
    let login = api
        .post(
            "/api/v1/auth/login",
            &json!({"email": "frank@example.com", "password": "password-1"}),
            None,
        )
        .await;
    assert_eq!(login.status, 200);
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_create_exactly_one_user() {
    let (server, admin_key) = server_with_admin().await;
    let api = server.client();
    let attempts = (0..50).map(|_| {
        let api = api.clone();
        let key = admin_key.clone();
        tokio::spawn(async move {
            api.post(
                "/api/v1/auth/register",
                &json!({"email": "race@example.com"}),
                Some(&key),
            )
            .await
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap().status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 49, "{statuses:?}");
}

#[tokio::test]
async fn administrators_list_and_edit_users() {
    let (server, admin_key) = server_with_admin().await;
    let api = server.client();
    let user_key = api
        .register(
            &json!({"email": "gina@example.com", "password": "password-1", "organization": "Acme"}),
            None,
        )
        .await;
    let second_key = api
        .post(
            "/api/v1/auth/login",
            &json!({"email": "gina@example.com", "password": "password-1"}),
            None,
        )
        .await
        .body["api_key"]
        .as_str()
        .unwrap()
        .to_string();

    let list = api.get("/api/v1/auth/users", Some(&admin_key)).await;
    assert_eq!(list.status, 200);
    let users = list.body.as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["email"], "gina@example.com", "newest first");
    assert_eq!(users[0]["organization"], "Acme");
    assert_eq!(users[0]["active_key_count"], 2);
    assert!(users[0]["last_login_at"].as_f64().is_some());
    let gina_id = users[0]["id"].as_str().unwrap().to_string();

    let admins = api
        .get("/api/v1/auth/users?role=admin&is_active=true&limit=5", Some(&admin_key))
        .await;
    assert_eq!(admins.body.as_array().unwrap().len(), 1);
    assert_eq!(admins.body[0]["email"], "root@example.com");
    let bad_role = api.get("/api/v1/auth/users?role=king", Some(&admin_key)).await;
    assert_eq!(
        (bad_role.status, bad_role.body["errors"][0]["type"].as_str()),
        (422, Some("enum"))
    );
    let bad_limit = api.get("/api/v1/auth/users?limit=101", Some(&admin_key)).await;
    assert_eq!(bad_limit.status, 422);
    assert_eq!(
        bad_limit.detail(),
        "Invalid value for 'limit': must be less than or equal to 100."
    );
    let paged = api.get("/api/v1/auth/users?limit=1&offset=1", Some(&admin_key)).await;
    assert_eq!(paged.body[0]["email"], "root@example.com");

    let path = format!("/api/v1/auth/users/{gina_id}");
    let empty = api.patch(&path, &json!({}), Some(&admin_key)).await;
    assert_eq!(
        (empty.status, empty.body["errors"][0]["type"].as_str()),
        (422, Some("value_error"))
    );
    let bad = api.patch(&path, &json!({"role": "emperor"}), Some(&admin_key)).await;
    assert_eq!(bad.status, 400);
    let unknown = api
        .patch(
            "/api/v1/auth/users/00000000-0000-4000-8000-000000000000",
            &json!({"role": "viewer"}),
            Some(&admin_key),
        )
        .await;
    assert_eq!((unknown.status, unknown.detail()), (404, "User not found"));

    let promoted = api.patch(&path, &json!({"role": "auditor"}), Some(&admin_key)).await;
    assert_eq!(
        (promoted.status, promoted.body["role"].as_str()),
        (200, Some("auditor"))
    );
    assert_eq!(
        api.get("/api/v1/auth/me", Some(&user_key)).await.body["role"],
        "auditor",
        "role applies on the next request"
    );

    let deactivated = api.patch(&path, &json!({"is_active": false}), Some(&admin_key)).await;
    assert_eq!(
        (
            deactivated.body["is_active"].as_bool(),
            deactivated.body["active_key_count"].as_i64()
        ),
        (Some(false), Some(0))
    );
    for key in [&user_key, &second_key] {
        let refused = api.get("/api/v1/auth/me", Some(key)).await;
        assert_eq!((refused.status, refused.detail()), (401, "Invalid API key."));
    }
    let login = api
        .post(
            "/api/v1/auth/login",
            &json!({"email": "gina@example.com", "password": "password-1"}),
            None,
        )
        .await;
    assert_eq!(login.status, 401, "inactive users cannot log in");

    // The last active administrator cannot demote or deactivate itself.
    let me = api.get("/api/v1/auth/me", Some(&admin_key)).await;
    let admin_path = format!("/api/v1/auth/users/{}", me.body["id"].as_str().unwrap());
    for change in [json!({"role": "operator"}), json!({"is_active": false})] {
        let last = api.patch(&admin_path, &change, Some(&admin_key)).await;
        assert_eq!(
            (last.status, last.detail()),
            (409, "Cannot remove the last active administrator.")
        );
    }
    // With a second admin it can.
    api.patch(&path, &json!({"role": "admin", "is_active": true}), Some(&admin_key))
        .await;
    let demoted = api
        .patch(&admin_path, &json!({"role": "operator"}), Some(&admin_key))
        .await;
    assert_eq!(demoted.status, 200);
    let gate = api.get("/api/v1/auth/users", Some(&admin_key)).await;
    assert_eq!(gate.status, 403);
}

#[tokio::test]
async fn cli_creates_users_and_keys() {
    let server = Server::start().await;
    let output = server.cli(&[
        "user",
        "create",
        "--email",
        "Ops@Example.com",
        "--role",
        "admin",
        "--password",
        "password-1",
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let key = String::from_utf8(output.stdout).unwrap().trim().to_string();
    let api = server.client();
    let me = api.get("/api/v1/auth/me", Some(&key)).await;
    assert_eq!(
        (me.body["email"].as_str(), me.body["role"].as_str()),
        (Some("ops@example.com"), Some("admin"))
    );

    let extra = server.cli(&["user", "key", "--email", "ops@example.com"]);
    let extra_key = String::from_utf8(extra.stdout).unwrap().trim().to_string();
    assert_eq!(api.get("/api/v1/auth/me", Some(&extra_key)).await.status, 200);

    let duplicate = server.cli(&["user", "create", "--email", "ops@example.com", "--role", "viewer"]);
    assert!(!duplicate.status.success());
    let bad_role = server.cli(&["user", "create", "--email", "z@example.com", "--role", "root"]);
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("invalid role"));
}
