//! `refract lifecycle plan|run` and `refract storage reindex`: the storage maintenance
//! commands, on the same stores and index the server uses.

use super::{init_logging, runtime, ConfigArgs, Failure, LifecycleCommand};
use crate::runtime::background::Background;
use crate::runtime::clock::{parse_time, Clock};

/// A failure of one of these commands, with its command's code.
fn failure(code: &'static str) -> impl Fn(&dyn std::fmt::Display) -> Failure {
    move |e| Failure {
        code,
        message: e.to_string(),
    }
}

pub(super) fn reindex(args: &ConfigArgs) -> Result<(), Failure> {
    let config = args.load()?;
    init_logging(&config)?;
    let fail = failure("reindex");
    runtime()?.block_on(async {
        let background = Background::new();
        let originals = crate::originals::Originals::from_config(&config).map_err(|e| fail(&e))?;
        let chain = crate::tiers::Chain::open(&config, Clock::System, background.clone())
            .await
            .map_err(|e| fail(&e))?;
        let report = crate::lifecycle::reindex::reindex(&originals, &chain)
            .await
            .map_err(|e| fail(&e))?;
        background.stop().await;
        println!("{}", serde_json::json!(report));
        Ok(())
    })
}

pub(super) fn lifecycle(cmd: LifecycleCommand) -> Result<(), Failure> {
    let (sweep, json) = match &cmd {
        LifecycleCommand::Plan { sweep, json } => (sweep, *json),
        LifecycleCommand::Run { sweep } => (sweep, false),
    };
    let config = sweep.args.load()?;
    init_logging(&config)?;
    let fail = failure("lifecycle");
    let clock = match &sweep.now {
        Some(t) => Clock::manual(parse_time(t).map_err(|e| fail(&e))?),
        None => Clock::System,
    };
    // A plan at a future time is a forecast; a run at one deletes and moves real objects early.
    let future = clock.now_ms() > Clock::System.now_ms() + 60_000;
    if future && matches!(cmd, LifecycleCommand::Run { .. }) && !sweep.allow_future_now {
        return Err(Failure {
            code: "future_now",
            message: "--now is in the future: this run would expire and move real objects as \
                      if that day had come. Plan with `lifecycle plan --now …`, or pass \
                      --allow-future-now to run it anyway"
                .into(),
        });
    }
    runtime()?.block_on(async {
        let background = Background::new();
        let policy = sweep.policy.as_deref();
        let sweeper = crate::lifecycle::open(&config, policy, clock.clone(), background.clone())
            .await
            .map_err(|e| fail(&e))?;
        match cmd {
            LifecycleCommand::Plan { .. } => {
                let (scanned, plans) = sweeper.plan(clock.now_ms()).await.map_err(|e| fail(&e))?;
                if json {
                    let out = serde_json::json!({ "now_ms": clock.now_ms(), "scanned": scanned, "actions": plans });
                    println!("{out}");
                } else {
                    print!("{}", crate::lifecycle::plan::render_table(&plans));
                    println!("{scanned} objects scanned");
                }
            }
            LifecycleCommand::Run { .. } => {
                let report = sweeper.run_once().await.map_err(|e| fail(&e))?;
                background.stop().await;
                println!("{}", serde_json::json!(report));
            }
        }
        Ok(())
    })
}
