//! The sandbox's listener: plain TCP, except that a handler can make its connection vanish and
//! the whole site can go unreachable and come back on the same port.
//!
//! `drop_after_commit` faults need "the request was handled, but no HTTP response ever
//! arrives". Each accepted stream carries a shared kill switch, handed to handlers as
//! `ConnectInfo<ConnHandle>`. A handler flips it after committing its writes; from then on the
//! stream refuses every read and write, so hyper fails writing the response head, gives up on
//! the connection and drops the socket: the client sees the connection close with zero bytes
//! of response.
//!
//! Going unreachable ([`Gate::go_dark`]) has to look like a dead host to a client that pools
//! connections: the listening socket is closed at once (new connections are refused) and every
//! open connection is shut down at once (a pooled keep-alive connection sees end-of-file before
//! it can carry another request, so the client's next request opens a new connection and is
//! refused). Both happen synchronously, before `go_dark` returns, so a test can flip the switch
//! and immediately expect a connect error. To shut a connection down from outside the task that
//! serves it, each accepted socket is duplicated: hyper reads and writes one handle, the gate
//! keeps a weak reference to the other and calls `shutdown` on it (which acts on the socket,
//! not the handle). Coming back ([`Gate::come_back`]) binds the same port again.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

use super::lock;

/// How long the accept loop waits before retrying after an accept or re-bind error.
const RETRY: Duration = Duration::from_millis(100);

/// Binds a listening socket on `addr` with `SO_REUSEADDR`, so the port can be bound again right
/// after it was closed (connections it served may linger in `TIME_WAIT`).
fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// What the gate guards, under one lock so that accepting and going dark never interleave.
struct GateState {
    listener: Option<TcpListener>,
    /// Every accepted connection's shutdown handle (weak: a closed connection frees its socket).
    conns: Vec<Weak<std::net::TcpStream>>,
    reachable: bool,
    /// Set by [`Gate::close`]: the sandbox is stopping and never binds again.
    closed: bool,
    /// Bumped by every switch, so a timed "come back" knows whether it was overtaken.
    epoch: u64,
}

/// The sandbox's port: its listening socket, its open connections and the reachability switch.
pub(crate) struct Gate {
    addr: SocketAddr,
    /// The runtime the listener was registered with; re-binding enters it, so the switch also
    /// works when flipped from a thread outside the runtime.
    runtime: tokio::runtime::Handle,
    state: Mutex<GateState>,
    /// Wakes the accept loop after a switch.
    changed: watch::Sender<u64>,
}

impl Gate {
    /// Binds `127.0.0.1:port` (0 picks a free port). Must be called inside a Tokio runtime.
    pub(crate) fn bind(port: u16) -> io::Result<Arc<Self>> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| io::Error::other(format!("the sandbox needs a Tokio runtime: {e}")))?;
        let listener = bind_listener(SocketAddr::from(([127, 0, 0, 1], port)))?;
        let addr = listener.local_addr()?;
        let (changed, _) = watch::channel(0);
        Ok(Arc::new(Self {
            addr,
            runtime,
            state: Mutex::new(GateState {
                listener: Some(listener),
                conns: Vec::new(),
                reachable: true,
                closed: false,
                epoch: 0,
            }),
            changed,
        }))
    }

    /// The bound address (the same port across every unreachable spell).
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the site answers now.
    pub(crate) fn is_reachable(&self) -> bool {
        let st = lock(&self.state);
        st.reachable && !st.closed
    }

    /// The listener for axum's server loop.
    pub(crate) fn listener(self: &Arc<Self>) -> GatedListener {
        GatedListener {
            gate: Arc::clone(self),
            changed: self.changed.subscribe(),
        }
    }

    /// Makes the site unreachable now: closes the listening socket (new connections are
    /// refused) and shuts down every open connection except `keep` (the connection asking for
    /// it, which answers and then closes by itself). Returns the switch's epoch.
    pub(crate) fn go_dark(&self, keep: Option<&ConnHandle>) -> u64 {
        let keep = keep.and_then(|k| k.socket.upgrade());
        let epoch = {
            let mut st = lock(&self.state);
            st.reachable = false;
            st.epoch += 1;
            st.listener = None;
            for conn in st.conns.drain(..) {
                let Some(sock) = conn.upgrade() else { continue };
                if keep.as_ref().is_some_and(|k| Arc::ptr_eq(k, &sock)) {
                    continue;
                }
                if let Err(e) = sock.shutdown(Shutdown::Both) {
                    tracing::debug!(error = %e, "sandbox: shutting a connection down");
                }
            }
            st.epoch
        };
        self.changed.send_modify(|v| *v += 1);
        epoch
    }

    /// Makes the site reachable again on the same port; returns the switch's epoch. If the port
    /// cannot be bound right now (another process took it), the accept loop keeps retrying.
    pub(crate) fn come_back(&self) -> u64 {
        let epoch = {
            let mut st = lock(&self.state);
            st.epoch += 1;
            if !st.closed {
                st.reachable = true;
                if st.listener.is_none() {
                    let _entered = self.runtime.enter();
                    match bind_listener(self.addr) {
                        Ok(l) => st.listener = Some(l),
                        Err(e) => tracing::warn!(
                            error = %e, addr = %self.addr,
                            "sandbox: cannot bind the port again yet; retrying"
                        ),
                    }
                }
            }
            st.epoch
        };
        self.changed.send_modify(|v| *v += 1);
        epoch
    }

    /// Comes back only if no other switch happened since the one that returned `epoch` (a
    /// timed outage must not end an outage someone started after it).
    pub(crate) fn come_back_if(&self, epoch: u64) -> bool {
        if lock(&self.state).epoch != epoch {
            return false;
        }
        self.come_back();
        true
    }

    /// Stops accepting for good (the sandbox is shutting down): the listening socket closes,
    /// open connections finish on their own.
    pub(crate) fn close(&self) {
        {
            let mut st = lock(&self.state);
            st.closed = true;
            st.listener = None;
        }
        self.changed.send_modify(|v| *v += 1);
    }

    /// One accept attempt: pending while unreachable or closed (the watch channel wakes the
    /// loop), an error when re-binding or accepting failed.
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(DroppableStream, SocketAddr)>> {
        let mut st = lock(&self.state);
        if st.closed || !st.reachable {
            return Poll::Pending;
        }
        if st.listener.is_none() {
            st.listener =
                Some(bind_listener(self.addr).map_err(|e| {
                    io::Error::new(e.kind(), format!("re-binding {}: {e}", self.addr))
                })?);
        }
        let Some(listener) = st.listener.as_ref() else {
            return Poll::Pending;
        };
        let (stream, peer) = match listener.poll_accept(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r?,
        };
        let (stream, socket) = split(stream)?;
        st.conns.retain(|c| c.strong_count() > 0);
        st.conns.push(Arc::downgrade(&socket));
        Poll::Ready(Ok((
            DroppableStream {
                inner: stream,
                killed: Arc::new(AtomicBool::new(false)),
                socket,
            },
            peer,
        )))
    }
}

/// Turns an accepted stream into the handle hyper uses plus a duplicate the gate can shut down.
fn split(stream: TcpStream) -> io::Result<(TcpStream, Arc<std::net::TcpStream>)> {
    let std_stream = stream.into_std()?;
    let socket = Arc::new(std_stream.try_clone()?);
    Ok((TcpStream::from_std(std_stream)?, socket))
}

/// The listener axum serves: accepts through the [`Gate`].
pub(crate) struct GatedListener {
    gate: Arc<Gate>,
    changed: watch::Receiver<u64>,
}

impl Listener for GatedListener {
    type Io = DroppableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            self.changed.borrow_and_update();
            let gate = &self.gate;
            let changed = &mut self.changed;
            tokio::select! {
                got = std::future::poll_fn(|cx| gate.poll_accept(cx)) => match got {
                    Ok(conn) => return conn,
                    Err(e) => {
                        tracing::debug!(error = %e, "sandbox: accept failed; retrying");
                        tokio::time::sleep(RETRY).await;
                    }
                },
                woke = changed.changed() => {
                    if woke.is_err() {
                        // The gate is gone (cannot happen while this listener holds it).
                        tokio::time::sleep(RETRY).await;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.gate.addr)
    }
}

/// One accepted connection with its kill switch.
pub(crate) struct DroppableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
    /// The duplicate handle [`Gate::go_dark`] shuts down; dropped with the stream, so the
    /// socket closes when hyper lets go of the connection.
    socket: Arc<std::net::TcpStream>,
}

impl DroppableStream {
    fn check(&self) -> io::Result<()> {
        if self.killed.load(Ordering::Acquire) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the sandbox dropped this connection on purpose (drop_after_commit)",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for DroppableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for DroppableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A handler's handle on its own connection (`ConnectInfo<ConnHandle>`).
#[derive(Debug, Clone)]
pub(crate) struct ConnHandle {
    killed: Arc<AtomicBool>,
    /// Which socket this is, so going dark can spare the connection that asked for it.
    socket: Weak<std::net::TcpStream>,
}

impl ConnHandle {
    /// Makes the connection fail every later read and write, so no response reaches the client.
    pub(crate) fn drop_connection(&self) {
        self.killed.store(true, Ordering::Release);
    }
}

impl Connected<IncomingStream<'_, GatedListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, GatedListener>) -> Self {
        Self {
            killed: Arc::clone(&stream.io().killed),
            socket: Arc::downgrade(&stream.io().socket),
        }
    }
}
