//! Just enough of the W3C WebDriver protocol to drive the app through `tauri-driver`: sessions,
//! scripts, elements, clicks, typing and screenshots.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use serde_json::{Value, json};

/// The key W3C WebDriver uses for element references.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One session: one running app.
pub struct Session {
    http: reqwest::Client,
    base: String,
}

impl Session {
    /// Starts `application` through the driver at `driver_url`.
    pub async fn start(driver_url: &str, application: &std::path::Path) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "tauri:options": { "application": application }
                }
            }
        });
        let answer = http
            .post(format!("{driver_url}/session"))
            .header("content-type", "application/json")
            .body(capabilities.to_string())
            .send()
            .await
            .context("tauri-driver did not answer")?
            .bytes()
            .await?;
        let answer: Value = serde_json::from_slice(&answer)?;
        let id = answer["value"]["sessionId"]
            .as_str()
            .with_context(|| format!("no session: {answer}"))?;
        Ok(Self {
            http,
            base: format!("{driver_url}/session/{id}"),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let answer: Value = serde_json::from_slice(&request.send().await?.bytes().await?)?;
        if answer["value"]["error"].is_string() {
            bail!("WebDriver {path}: {}", answer["value"]);
        }
        Ok(answer["value"].clone())
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and answers what it
    /// returns.
    pub async fn script(&self, script: &str, args: Value) -> Result<Value> {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Runs `script`, which must call `arguments[arguments.length - 1]` with its answer.
    pub async fn script_async(&self, script: &str, args: Value) -> Result<Value> {
        self.call(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// The value of the JavaScript expression `expression` in the page.
    pub async fn eval(&self, expression: &str) -> Result<Value> {
        self.script(&format!("return {expression};"), json!([]))
            .await
    }

    /// Calls an app command as the page does, answering `{ "ok": value }` or `{ "error": error }`.
    pub async fn invoke(&self, command: &str, args: Value) -> Result<Value> {
        self.script_async(
            "const done = arguments[arguments.length - 1];
             window.__TAURI__.core.invoke(arguments[0], arguments[1])
               .then((ok) => done({ ok: ok ?? null }), (error) => done({ error }));",
            json!([command, args]),
        )
        .await
    }

    /// Waits until `script` answers something other than `null`/`false`, and answers it.
    pub async fn wait_for(&self, what: &str, script: &str, limit: Duration) -> Result<Value> {
        let started = Instant::now();
        loop {
            let value = self.script(script, json!([])).await?;
            if !(value.is_null() || value == Value::Bool(false)) {
                return Ok(value);
            }
            if started.elapsed() > limit {
                bail!("timed out after {limit:?} waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn element(&self, css: &str) -> Result<String> {
        let value = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await
            .with_context(|| format!("no element {css}"))?;
        value[ELEMENT_KEY]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no element {css}: {value}"))
    }

    /// Clicks the element `css` selects, as a user would.
    pub async fn click(&self, css: &str) -> Result<()> {
        let element = self.element(css).await?;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await?;
        Ok(())
    }

    /// Types `text` into the element `css` selects.
    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let element = self.element(css).await?;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/clear"),
            Some(json!({})),
        )
        .await?;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await?;
        Ok(())
    }

    /// Saves a screenshot of the window as PNG.
    pub async fn screenshot(&self, path: &std::path::Path) -> Result<()> {
        let value = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().context("no screenshot data")?)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    /// Ends the session, which closes the app.
    pub async fn close(self) -> Result<()> {
        self.http.delete(&self.base).send().await?;
        Ok(())
    }
}
