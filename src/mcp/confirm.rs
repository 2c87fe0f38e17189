//! Asking the person before a write (`policy.confirm_writes`, SPEC §9): once per call, through
//! MCP form elicitation, with what will change, how many and where; a "no", a dismissal or no
//! answer sends nothing and is audited as `denied`.
//!
//! Clients on the stateless 2026-07-28 lifecycle cannot receive server-to-client requests; they
//! are asked with an input-required result instead (the form travels in the result, the client
//! asks the person and calls again with the answer in `inputResponses`).

use std::time::Duration;

use rmcp::RoleServer;
use rmcp::model::{
    ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema,
    InputRequest, InputRequests, InputRequiredResult, InputResponses, ProtocolVersion,
};
use rmcp::schemars;
use rmcp::service::{ElicitationError, ElicitationMode, RequestContext};
use serde::{Deserialize, Serialize};

use super::{State, ToolError};
use crate::policy::Confirm;

/// How long the person has to answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(300);

/// The form the person sees.
#[derive(Debug, Deserialize, Serialize, schemars::JsonSchema)]
pub struct Confirmation {
    /// Go ahead with this change?
    pub proceed: bool,
}

rmcp::elicit_safe!(Confirmation);

/// The key of the confirmation in an input-required round.
const ANSWER_KEY: &str = "confirm";

/// How this request's client can be asked, if at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    /// A server-to-client `elicitation/create` request (initialize lifecycle).
    Request,
    /// An input-required result, answered on the retried call (2026-07-28).
    InputRequired,
    /// Not at all.
    None,
}

fn channel(context: &RequestContext<RoleServer>) -> Channel {
    let modern = context
        .protocol_version()
        .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
    if modern {
        // An empty `elicitation: {}` capability means form mode.
        let form = context
            .client_capabilities()
            .and_then(|c| c.elicitation)
            .is_some_and(|e| e.form.is_some() || e.url.is_none());
        if form {
            Channel::InputRequired
        } else {
            Channel::None
        }
    } else if context
        .peer
        .supported_elicitation_modes()
        .contains(&ElicitationMode::Form)
    {
        Channel::Request
    } else {
        Channel::None
    }
}

fn declined() -> ToolError {
    ToolError::Denied("the person declined the confirmation; nothing was sent".to_string())
}

/// Asks before a write when policy says so; `Ok` means go ahead.
///
/// `what` is the question, e.g. "Create 120 Jira issues in ENG?".
pub async fn confirm(
    state: &State,
    context: &RequestContext<RoleServer>,
    answers: Option<&InputResponses>,
    what: &str,
) -> Result<(), ToolError> {
    let how = channel(context);
    match state.policy.confirmation(how != Channel::None) {
        Confirm::Proceed => Ok(()),
        Confirm::Refuse(m) => Err(ToolError::Denied(m)),
        Confirm::Ask if how == Channel::InputRequired => {
            let message = format!("{what} (atlassian-mcp-bridge asks before writing)");
            match answers.and_then(|a| a.get(ANSWER_KEY)) {
                Some(answer) => {
                    let answer: ElicitResult =
                        serde_json::from_value(answer.clone()).map_err(|_| declined())?;
                    let yes = answer.action == ElicitationAction::Accept
                        && answer
                            .content
                            .as_ref()
                            .and_then(|c| c.get("proceed"))
                            .and_then(serde_json::Value::as_bool)
                            == Some(true);
                    if yes { Ok(()) } else { Err(declined()) }
                }
                None => {
                    let schema = ElicitationSchema::from_type::<Confirmation>().map_err(|e| {
                        ToolError::Invalid(format!("internal error: confirmation form ({e})"))
                    })?;
                    let mut asks = InputRequests::new();
                    asks.insert(
                        ANSWER_KEY.to_string(),
                        InputRequest::Elicitation(ElicitRequest::new(
                            ElicitRequestParams::FormElicitationParams {
                                meta: None,
                                message,
                                requested_schema: schema,
                            },
                        )),
                    );
                    Err(ToolError::NeedsInput(Box::new(InputRequiredResult::new(
                        Some(asks),
                        None,
                    ))))
                }
            }
        }
        Confirm::Ask => {
            let answer = context
                .peer
                .elicit_with_timeout::<Confirmation>(
                    format!("{what} (atlassian-mcp-bridge asks before writing)"),
                    Some(ANSWER_WITHIN),
                )
                .await;
            match answer {
                Ok(Some(Confirmation { proceed: true })) => Ok(()),
                Ok(_) => Err(ToolError::Denied(
                    "the person answered no to the confirmation; nothing was sent".to_string(),
                )),
                Err(ElicitationError::UserDeclined | ElicitationError::UserCancelled) => {
                    Err(declined())
                }
                Err(e) => Err(ToolError::Denied(format!(
                    "the confirmation could not be completed ({e}); nothing was sent"
                ))),
            }
        }
    }
}
