//! A session's side of the hub: the rooms it is in and the user it is logged in as, kept with
//! the session (under a lock of its own, never shared with other sessions), and the cleanup
//! when it closes.
//!
//! Lock order: a member's lock, then a room's or user's shard lock, then the presence table's
//! shard lock. Session code (send, close) is called with none of them held: closing a session
//! runs [`Member::on_close`], which takes them again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use sockjs_core::cluster::{valid_name, LoginStamp, Operation};

use super::shard::lock;
use super::users::{EndpointTag, Reservation};
use super::{Hub, HubError, LoginError, LoginPolicy, REFUSED, REPLACED};
use crate::session::SessionHandle;

#[derive(Default)]
struct MemberState {
    /// Set once the session has closed: it joins nothing and logs in as nobody any more.
    closed: bool,
    rooms: HashSet<Arc<str>>,
    user: Option<(Arc<str>, LoginStamp)>,
}

/// A login that happened: the user's shared name, its stamp, the sessions to replace.
type LoggedIn = (Arc<str>, LoginStamp, Vec<Arc<SessionHandle>>);

pub(crate) struct Member {
    pub(crate) hub: Hub,
    /// The session's key in the hub's tables (distinct per session of a hub).
    id: u64,
    pub(crate) endpoint: Arc<EndpointTag>,
    state: Mutex<MemberState>,
}

impl Member {
    pub(crate) fn new(hub: Hub, endpoint: Arc<EndpointTag>) -> Member {
        Member {
            id: hub.inner.next_member(),
            hub,
            endpoint,
            state: Mutex::default(),
        }
    }

    pub(crate) fn join(&self, session: &Arc<SessionHandle>, room: &str) -> Result<bool, HubError> {
        if !valid_name(room) {
            return Err(HubError::InvalidName);
        }
        let mut state = lock(&self.state);
        if state.closed {
            return Err(HubError::Closed);
        }
        if state.rooms.contains(room) {
            return Ok(false);
        }
        let name = self.hub.inner.room_join(room, self.id, session);
        state.rooms.insert(name);
        Ok(true)
    }

    pub(crate) fn leave(&self, room: &str) -> bool {
        let mut state = lock(&self.state);
        match state.rooms.take(room) {
            Some(name) => {
                self.hub.inner.room_leave(&name, self.id);
                true
            }
            None => false,
        }
    }

    pub(crate) fn rooms(&self) -> Vec<Arc<str>> {
        let mut v: Vec<_> = lock(&self.state).rooms.iter().cloned().collect();
        v.sort();
        v
    }

    pub(crate) fn user(&self) -> Option<Arc<str>> {
        lock(&self.state).user.as_ref().map(|(u, _)| Arc::clone(u))
    }

    /// Log in as `user` with `policy`, or out with `None`, without the policy's checks for
    /// `Allow` (what `set_user` does). Returns the sessions to replace.
    fn login_now(
        &self,
        session: &Arc<SessionHandle>,
        user: Option<&str>,
        replace: bool,
        reserved: bool,
    ) -> Result<Option<LoggedIn>, LoginError> {
        let hub = &self.hub.inner;
        let mut state = lock(&self.state);
        if state.closed {
            return Err(LoginError::Closed);
        }
        if let Some((current, _)) = &state.user {
            if Some(&**current) == user {
                return Ok(None);
            }
        }
        if let Some((old, _)) = state.user.take() {
            hub.user_remove(&old, self.id);
        }
        let Some(user) = user else {
            return Ok(None);
        };
        let (name, stamp, older) =
            hub.user_insert(user, self.id, session, &self.endpoint, replace, reserved);
        state.user = Some((Arc::clone(&name), stamp));
        Ok(Some((name, stamp, older)))
    }

    /// `Connection::set_user`: no policy, no cluster round trip.
    pub(crate) fn set_user(&self, session: &Arc<SessionHandle>, user: Option<&str>) {
        if user.is_some_and(|u| !valid_name(u)) {
            tracing::debug!("set_user with an invalid name ignored");
            return;
        }
        let _ = self.login_now(session, user, false, false);
    }

    /// `Connection::login`: the endpoint's duplicate-login policy, cluster-wide.
    pub(crate) async fn login(
        &self,
        session: &Arc<SessionHandle>,
        user: &str,
    ) -> Result<(), LoginError> {
        if !valid_name(user) {
            return Err(LoginError::InvalidName);
        }
        match self.endpoint.policy {
            LoginPolicy::Allow => self
                .login_now(session, Some(user), false, false)
                .map(|_| ()),
            LoginPolicy::ReplaceOlder => {
                let Some((name, stamp, older)) =
                    self.login_now(session, Some(user), true, false)?
                else {
                    return Ok(());
                };
                for s in older {
                    s.close(REPLACED.code, REPLACED.reason);
                }
                // Best effort across nodes: with the backend down, older sessions elsewhere
                // stay (counted in the hub's stats, logged).
                let _ = self.hub.inner.publish(Operation::Kick {
                    user: name,
                    code: REPLACED.code,
                    reason: REPLACED.reason.into(),
                    scope: Some(Arc::clone(&self.endpoint.scope)),
                    older_than: Some(stamp),
                });
                Ok(())
            }
            LoginPolicy::RefuseNewer => self.login_refusing(session, user).await,
        }
    }

    async fn login_refusing(
        &self,
        session: &Arc<SessionHandle>,
        user: &str,
    ) -> Result<(), LoginError> {
        let hub = &self.hub.inner;
        let scope = &self.endpoint.scope;
        {
            let state = lock(&self.state);
            if state.closed {
                return Err(LoginError::Closed);
            }
            if state.user.as_ref().is_some_and(|(u, _)| **u == *user) {
                return Ok(());
            }
        }
        // Logging in as someone else: out of the current identity first.
        self.login_now(session, None, false, false)?;
        if let Reservation::Taken = hub.user_reserve(user, scope) {
            session.close(REFUSED.code, REFUSED.reason);
            return Err(LoginError::Refused);
        }
        let claimed = match &hub.backend {
            None => Ok(true),
            Some(backend) => {
                let claim = super::LoginClaim {
                    scope: Arc::clone(scope),
                    user: Arc::from(user),
                    stamp: hub.new_stamp(),
                };
                let fut = backend.claim_login(claim);
                match tokio::time::timeout(hub.config.claim_timeout, fut).await {
                    Ok(r) => r,
                    Err(_) => Err(super::BackendError::Timeout),
                }
            }
        };
        match claimed {
            Ok(true) => match self.login_now(session, Some(user), false, true) {
                Ok(_) => Ok(()),
                Err(e) => {
                    hub.user_unreserve(user, scope);
                    Err(e)
                }
            },
            Ok(false) => {
                hub.user_unreserve(user, scope);
                session.close(REFUSED.code, REFUSED.reason);
                Err(LoginError::Refused)
            }
            Err(e) => {
                hub.user_unreserve(user, scope);
                hub.counters.claim_failed();
                tracing::warn!(error = %e, "duplicate-login claim failed");
                Err(LoginError::Backend(e))
            }
        }
    }

    /// The session closed: leave every room and the user index. Idempotent.
    pub(crate) fn on_close(&self) {
        let (rooms, user) = {
            let mut state = lock(&self.state);
            if state.closed {
                return;
            }
            state.closed = true;
            (std::mem::take(&mut state.rooms), state.user.take())
        };
        let hub = &self.hub.inner;
        for room in rooms {
            hub.room_leave(&room, self.id);
        }
        if let Some((user, _)) = user {
            hub.user_remove(&user, self.id);
        }
    }
}
