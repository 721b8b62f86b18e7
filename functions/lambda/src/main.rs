//! The Lambda entry point of every function: `CHORE_FUNCTION` (its logical id in
//! template.yaml) names the route, worker or job it runs. One binary links once for all
//! functions, so `sam build` does not grow with their number (see the README's figures).
#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    functions_lambda::serve().await
}
