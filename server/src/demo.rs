//! `dropcast serve --demo`: a demo creator, show and products to click through.
//!
//! Idempotent: the first run creates them, later runs find them again. Tokens
//! are stored hashed and cannot be shown twice, so each run issues the demo
//! creator a fresh token for the printed studio URL.

use sqlx::AnyPool;

use crate::auth::new_token;
use crate::configuration::Settings;
use crate::domain::ids::{new_id, new_secret};
use crate::store::{self, NewProduct, ShowRow, TokenRole};

const CREATOR: &str = "Dropcast Demo";
const SHOW: &str = "Friday Night Drop";

/// What the demo seed made or found.
pub struct Seeded {
    pub creator_token: String,
    pub show: ShowRow,
}

pub async fn seed(pool: &AnyPool) -> Result<Seeded, sqlx::Error> {
    let (creator_token, hash) = new_token(TokenRole::Creator);
    let creator_id = match store::find_creator_by_name(pool, CREATOR).await? {
        Some(id) => {
            store::insert_token(pool, &hash, TokenRole::Creator, &id, None).await?;
            id
        }
        None => {
            let id = new_id("cr");
            store::create_creator(pool, &id, CREATOR, &hash).await?;
            id
        }
    };
    let existing = store::shows_of_creator(pool, &creator_id).await?;
    if let Some(show) = existing.into_iter().find(|s| s.title == SHOW) {
        return Ok(Seeded {
            creator_token,
            show,
        });
    }
    let show =
        store::insert_show(pool, &new_id("shw"), &creator_id, SHOW, &new_secret("live")).await?;
    let products = [
        // (sku, title, price, stock, per buyer, shipping or None for digital)
        (
            "HOODIE-BLK",
            "Heavyweight hoodie, black",
            6500,
            25,
            Some(2),
            Some(800),
        ),
        ("CAP-SAND", "Six-panel cap, sand", 2800, 40, None, Some(500)),
        (
            "SNKR-LTD-42",
            "Limited runner, size 42",
            18000,
            5,
            Some(1),
            Some(1200),
        ),
        ("LOOKBOOK-PDF", "Drop lookbook (PDF)", 900, 500, None, None),
    ];
    let mut first = None;
    for (sku, title, price_cents, stock, max_per_buyer, shipping) in products {
        let id = new_id("prd");
        let row = store::insert_product(
            pool,
            NewProduct {
                id: &id,
                show_id: &show.id,
                sku,
                title,
                price_cents,
                currency: "usd",
                stock,
                max_per_buyer,
                image_url: None,
                fulfilment: match shipping {
                    Some(_) => wire::Fulfilment::Shipping,
                    None => wire::Fulfilment::Digital,
                },
                shipping_cents: shipping.unwrap_or(0),
            },
        )
        .await?;
        first.get_or_insert(row.id);
    }
    store::set_pin(pool, &show.id, first.as_deref()).await?;
    Ok(Seeded {
        creator_token,
        show,
    })
}

pub fn print_urls(seeded: &Seeded, settings: &Settings) {
    let base = settings.public_base();
    let id = &seeded.show.id;
    let ws = base.replacen("http", "ws", 1);
    println!();
    println!("Demo show \"{}\" is ready:", seeded.show.title);
    println!("  watch page         {base}/watch/{id}");
    println!("  OBS overlay        {base}/overlay/{id}");
    println!(
        "  studio (creator)   {base}/studio/{id}?token={}",
        seeded.creator_token
    );
    println!("  widget on any page <script src=\"{base}/embed.js\" data-show=\"{id}\"></script>");
    println!("  show (JSON)        {base}/api/v1/shows/{id}");
    println!("  live socket        {ws}/api/v1/shows/{id}/live");
    println!("  creator API token  {}", seeded.creator_token);
    println!(
        "  try a restock:     curl -X PATCH -H 'authorization: Bearer {}' \\",
        seeded.creator_token
    );
    println!(
        "                       -H 'content-type: application/json' -d '{{\"add_stock\": 5}}' \\"
    );
    println!("                       {base}/api/v1/shows/{id}/products/PRODUCT_ID");
    match &settings.smtp_url {
        Some(_) => println!("  buyers' mail       sent through DROPCAST_SMTP_URL"),
        None => println!(
            "  buyers' mail       not sent (DROPCAST_SMTP_URL is not set): each receipt and notice is logged with the address it would go to"
        ),
    }
    println!();
}
