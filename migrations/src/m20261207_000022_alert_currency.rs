//! Alerts that say why and stay current (issue 16): the latest trigger day beside the
//! first (`local_day` no longer moves), the numbers a clinician compares ("pain 6.1 vs
//! usual 3.8, spread 0.9") and the size of the change used to rank alerts, and two
//! states a clinician must see: the condition cleared since a day, and the evidence
//! withdrawn (the entries behind it were deleted or edited away).
//!
//! Every column is nullable: rows of alerts opened before this migration get their
//! `latest_day` from `local_day` and leave the numbers empty (their evidence JSON still
//! holds them in the old rule's form).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Alerts {
    Table,
    LocalDay,
    LatestDay,
    CurrentValue,
    UsualValue,
    UsualSpread,
    Magnitude,
    ClearedSince,
    EvidenceWithdrawnAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        let columns = [
            ColumnDef::new(Alerts::LatestDay).date().null().to_owned(),
            ColumnDef::new(Alerts::CurrentValue)
                .double()
                .null()
                .to_owned(),
            ColumnDef::new(Alerts::UsualValue)
                .double()
                .null()
                .to_owned(),
            ColumnDef::new(Alerts::UsualSpread)
                .double()
                .null()
                .to_owned(),
            ColumnDef::new(Alerts::Magnitude).double().null().to_owned(),
            ColumnDef::new(Alerts::ClearedSince)
                .date()
                .null()
                .to_owned(),
            ColumnDef::new(Alerts::EvidenceWithdrawnAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alerts::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        let fill = Query::update()
            .table(Alerts::Table)
            .value(Alerts::LatestDay, Expr::col(Alerts::LocalDay))
            .to_owned();
        manager.exec_stmt(fill).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Alerts::LatestDay,
            Alerts::CurrentValue,
            Alerts::UsualValue,
            Alerts::UsualSpread,
            Alerts::Magnitude,
            Alerts::ClearedSince,
            Alerts::EvidenceWithdrawnAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alerts::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
