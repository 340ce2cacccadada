//! The listener under a client that would starve it: parallel password guesses, idle and
//! half-sent requests, a flood of connections, a body that never arrives.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::common::StoreKind;
use crate::web_server::{login, Server};

/// A server with the shipped `[http]` setting `key` set to `value`.
fn limited(key: &str, value: u64) -> Server {
    let setting = format!("{key} = {value}");
    let key = key.to_string();
    Server::start_with(&StoreKind::Sqlite, move |c| {
        let shipped = c
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .expect("the shipped config sets it")
            .to_string();
        c.replace(&shipped, &setting)
    })
}

fn connect(server: &Server) -> TcpStream {
    let address = server.base.trim_start_matches("http://");
    let stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream
}

/// What the server sends until it closes the connection (or the read timeout).
fn read_all(mut stream: TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn sixty_four_parallel_wrong_logins_for_one_name_check_at_most_five_passwords() {
    let server = Server::start(&StoreKind::Sqlite);
    let attempts = (0..64).map(|_| login(&server, "stefan", "wrong-password-here"));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (5, 59), "{statuses:?}");
}

#[test]
fn idle_and_half_sent_requests_are_closed_after_the_header_timeout() {
    let server = limited("header_timeout_secs", 1);
    let idle = connect(&server);
    let mut half = connect(&server);
    half.write_all(b"GET /login HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    for (what, stream) in [("idle", idle), ("half-sent", half)] {
        let (_, waited) = read_all(stream);
        assert!(
            waited < Duration::from_secs(6),
            "{what} connection open for {waited:?}"
        );
    }
    // A whole request still gets its answer.
    let mut whole = connect(&server);
    whole
        .write_all(b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (answer, _) = read_all(whole);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn one_address_cannot_hold_more_than_its_connections() {
    let server = limited("max_connections_per_address", 4);
    let held: Vec<TcpStream> = (0..4).map(|_| connect(&server)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let request = b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut fifth = connect(&server);
    let _ = fifth.write_all(request);
    let (answer, _) = read_all(fifth);
    assert_eq!(answer, "", "the fifth connection was served");
    // A connection given back makes room.
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    let mut again = connect(&server);
    again.write_all(request).unwrap();
    let (answer, _) = read_all(again);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn a_body_that_does_not_arrive_in_time_is_408_and_one_too_large_413() {
    let server = limited("body_timeout_secs", 1);
    let mut slow = connect(&server);
    slow.write_all(
        b"POST /api/v1/changes/1/approve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":",
    )
    .unwrap();
    let (answer, waited) = read_all(slow);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(waited < Duration::from_secs(6), "{waited:?}");

    let mut large = connect(&server);
    let body = vec![b'a'; 3 * 1024 * 1024];
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    large.write_all(head.as_bytes()).unwrap();
    let _ = large.write_all(&body);
    let (answer, _) = read_all(large);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}
