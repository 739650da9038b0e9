//! Destination routing with Spring's conventions, as a pure function the driver and the
//! session share.
//!
//! * **Application destinations** (`/app/...`, what `@MessageMapping` handles): a `SEND`
//!   goes to an application handler, found by the path after the prefix (`/app/hello` →
//!   `/hello`). A `SUBSCRIBE` there is what `@SubscribeMapping` handles: the handler may
//!   answer the subscriber once, on that subscription.
//! * **Broker destinations** (`/topic/...`, `/queue/...`): the simple broker fans a message
//!   out to every subscription of exactly that destination.
//! * **User destinations** (`/user/...`), resolved as Spring's `DefaultUserDestinationResolver`
//!   does:
//!   * `SUBSCRIBE /user/queue/x` subscribes this session to its user's `/queue/x`: the broker
//!     keys it by (user, `/queue/x`), or by the session when the session has no user (so an
//!     anonymous session can still get replies meant for it alone, as `@SendToUser` does).
//!     Spring implements this with a per-session destination `/queue/x-user{session id}`;
//!     here the broker keeps the pair instead, which is the same routing without a
//!     synthetic name.
//!   * `SEND /user/bob/queue/x` (or server code's `send_to_user("bob", "/queue/x", ..)`)
//!     reaches every session of user `bob` subscribed to `/user/queue/x`. A `/` in a user
//!     name is written `%2F` in the destination, as in Spring.
//!   * The `MESSAGE` a subscriber receives carries the destination it subscribed to
//!     (`/user/queue/x`), never the resolved one.
//!   * The rest (`/queue/x`) must be under a broker prefix, otherwise the destination is
//!     [`Route::Unmatched`] (Spring's simple broker ignores such a message too).
//!
//! Prefixes match whole path segments: `/topic` matches `/topic` and `/topic/a`, not
//! `/topical`. User destinations are checked first, then application, then broker prefixes.
//! A destination matching none is [`Route::Unmatched`]: Spring drops such a `SEND` silently,
//! and the driver should do the same (optionally logging it).

/// The destination prefixes of one STOMP endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Routing {
    /// Prefixes of application destinations (`SEND` to a handler). Default: `["/app"]`.
    pub application_prefixes: Vec<String>,
    /// Prefixes of broker destinations (fan-out to subscribers). Default:
    /// `["/topic", "/queue"]`.
    pub broker_prefixes: Vec<String>,
    /// Prefix of user destinations; `None` turns them off. Default: `Some("/user")`.
    pub user_prefix: Option<String>,
}

impl Default for Routing {
    fn default() -> Routing {
        Routing {
            application_prefixes: vec!["/app".into()],
            broker_prefixes: vec!["/topic".into(), "/queue".into()],
            user_prefix: Some("/user".into()),
        }
    }
}

/// Where a destination goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// To the application: `path` is the destination without its application prefix
    /// (`/app/hello` → `/hello`).
    Application {
        /// The destination without the prefix, starting with `/` (or empty when the
        /// destination is the prefix itself).
        path: String,
    },
    /// To the broker: subscribers of exactly this destination.
    Broker,
    /// A user destination: `destination` is the broker destination behind it (`/queue/x`).
    User {
        /// For a `SEND`: the user named in the destination. For a `SUBSCRIBE`: the session's
        /// own user, `None` for an anonymous session (the subscription is then the session's
        /// alone).
        user: Option<String>,
        /// The broker destination, e.g. `/queue/x`.
        destination: String,
    },
    /// No prefix matches (or a user destination without a broker destination behind it).
    Unmatched,
}

/// The rest of `destination` after `prefix` when the prefix matches whole segments.
fn strip<'a>(destination: &'a str, prefix: &str) -> Option<&'a str> {
    let prefix = prefix.trim_end_matches('/');
    let rest = destination.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

impl Routing {
    /// Where a `SEND` to `destination` goes.
    ///
    /// ```
    /// use sockjs_stomp::{Route, Routing};
    /// let routing = Routing::default();
    /// assert_eq!(routing.route_send("/app/hello"), Route::Application { path: "/hello".into() });
    /// assert_eq!(routing.route_send("/topic/greetings"), Route::Broker);
    /// assert_eq!(
    ///     routing.route_send("/user/bob/queue/private"),
    ///     Route::User { user: Some("bob".into()), destination: "/queue/private".into() },
    /// );
    /// assert_eq!(routing.route_send("/elsewhere"), Route::Unmatched);
    /// ```
    pub fn route_send(&self, destination: &str) -> Route {
        if let Some(rest) = self.user_rest(destination) {
            let Some(rest) = rest.strip_prefix('/') else {
                return Route::Unmatched;
            };
            let (user, target) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => return Route::Unmatched,
            };
            if user.is_empty() || !self.is_broker(target) {
                return Route::Unmatched;
            }
            return Route::User {
                user: Some(decode_user(user)),
                destination: target.to_owned(),
            };
        }
        self.route_plain(destination)
    }

    /// Where a `SUBSCRIBE` to `destination` from a session of `user` goes.
    ///
    /// ```
    /// use sockjs_stomp::{Route, Routing};
    /// let routing = Routing::default();
    /// assert_eq!(
    ///     routing.route_subscribe("/user/queue/reply", Some("alice")),
    ///     Route::User { user: Some("alice".into()), destination: "/queue/reply".into() },
    /// );
    /// assert_eq!(
    ///     routing.route_subscribe("/user/queue/reply", None),
    ///     Route::User { user: None, destination: "/queue/reply".into() },
    /// );
    /// assert_eq!(routing.route_subscribe("/topic/a", Some("alice")), Route::Broker);
    /// ```
    pub fn route_subscribe(&self, destination: &str, user: Option<&str>) -> Route {
        if let Some(rest) = self.user_rest(destination) {
            if !self.is_broker(rest) {
                return Route::Unmatched;
            }
            return Route::User {
                user: user.map(str::to_owned),
                destination: rest.to_owned(),
            };
        }
        self.route_plain(destination)
    }

    /// The destination a user's subscriptions use for the broker destination `destination`
    /// (`/queue/x` → `/user/queue/x`): what server code sending to a user addresses, and
    /// what the `MESSAGE` frame shows. `None` when user destinations are off.
    pub fn user_destination(&self, destination: &str) -> Option<String> {
        let prefix = self.user_prefix.as_deref()?.trim_end_matches('/');
        Some(format!("{prefix}{destination}"))
    }

    fn user_rest<'a>(&self, destination: &'a str) -> Option<&'a str> {
        strip(destination, self.user_prefix.as_deref()?)
    }

    fn is_broker(&self, destination: &str) -> bool {
        self.broker_prefixes
            .iter()
            .any(|p| strip(destination, p).is_some())
    }

    fn route_plain(&self, destination: &str) -> Route {
        for prefix in &self.application_prefixes {
            if let Some(path) = strip(destination, prefix) {
                return Route::Application {
                    path: path.to_owned(),
                };
            }
        }
        if self.is_broker(destination) {
            return Route::Broker;
        }
        Route::Unmatched
    }
}

/// A user name as written in a destination: `%2F` stands for `/` (Spring's convention).
fn decode_user(segment: &str) -> String {
    segment.replace("%2F", "/").replace("%2f", "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments() {
        let r = Routing::default();
        assert_eq!(r.route_send("/topic"), Route::Broker);
        assert_eq!(r.route_send("/topic/a/b"), Route::Broker);
        assert_eq!(r.route_send("/topical"), Route::Unmatched);
        assert_eq!(r.route_send("/app"), Route::Application { path: "".into() });
        assert_eq!(r.route_send("/apple"), Route::Unmatched);
        assert_eq!(r.route_send(""), Route::Unmatched);
        assert_eq!(r.route_send("topic/a"), Route::Unmatched);
    }

    #[test]
    fn configured_prefixes_with_trailing_slashes() {
        let r = Routing {
            application_prefixes: vec!["/app/".into(), "/rpc".into()],
            broker_prefixes: vec!["/exchange/".into()],
            user_prefix: Some("/me/".into()),
        };
        assert_eq!(
            r.route_send("/rpc/x"),
            Route::Application { path: "/x".into() }
        );
        assert_eq!(
            r.route_send("/app/x"),
            Route::Application { path: "/x".into() }
        );
        assert_eq!(r.route_send("/exchange/amq.topic"), Route::Broker);
        assert_eq!(r.route_send("/topic/a"), Route::Unmatched);
        assert_eq!(
            r.route_subscribe("/me/exchange/x", Some("u")),
            Route::User {
                user: Some("u".into()),
                destination: "/exchange/x".into()
            }
        );
        assert_eq!(
            r.user_destination("/exchange/x").as_deref(),
            Some("/me/exchange/x")
        );
    }

    #[test]
    fn user_destinations() {
        let r = Routing::default();
        assert_eq!(
            r.route_send("/user/a%2Fb/queue/x"),
            Route::User {
                user: Some("a/b".into()),
                destination: "/queue/x".into()
            }
        );
        // A user destination must name a user and a broker destination.
        assert_eq!(r.route_send("/user/bob"), Route::Unmatched);
        assert_eq!(r.route_send("/user//queue/x"), Route::Unmatched);
        assert_eq!(r.route_send("/user/bob/app/x"), Route::Unmatched);
        assert_eq!(
            r.route_subscribe("/user/app/x", Some("bob")),
            Route::Unmatched
        );
        assert_eq!(r.route_subscribe("/user", Some("bob")), Route::Unmatched);
        assert_eq!(r.route_send("/users/x/queue/y"), Route::Unmatched);
        assert_eq!(
            r.user_destination("/queue/x").as_deref(),
            Some("/user/queue/x")
        );
    }

    #[test]
    fn user_destinations_can_be_turned_off() {
        let r = Routing {
            user_prefix: None,
            ..Routing::default()
        };
        assert_eq!(r.route_send("/user/bob/queue/x"), Route::Unmatched);
        assert_eq!(
            r.route_subscribe("/user/queue/x", Some("bob")),
            Route::Unmatched
        );
        assert_eq!(r.user_destination("/queue/x"), None);
    }

    #[test]
    fn subscriptions_to_application_destinations() {
        let r = Routing::default();
        assert_eq!(
            r.route_subscribe("/app/init", None),
            Route::Application {
                path: "/init".into()
            }
        );
    }
}
