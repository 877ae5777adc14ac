// The SQL functions of the market statements, created by their own
// migrations (numbers 9 and 10 in `Migrations.all`).

/// Migrations of the market tables.
enum MarketMigrations {
    /// The market's rules and the notifications and system messages its changes commit (migration 9).
    static let rules = """
        -- An amount in minor units as "1234.50 RON" (integer arithmetic), for texts.
        CREATE FUNCTION market_money(amount bigint, currency text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT ($1 / 100)::text || '.' || lpad(($1 % 100)::text, 2, '0') || ' ' || $2 $$;
        -- Fees.share: amount × basis points / per_whole, half up (the caller
        -- passes the constants of Fees.swift).
        CREATE FUNCTION market_fee_share(amount bigint, basis_points bigint, per_whole bigint) RETURNS bigint
            LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT ($1 * $2 + $3 / 2) / $3 $$;
        -- A notification for one user, returned for the hub to push.
        CREATE FUNCTION market_notify(recipient text, kind text, title text, body text, data jsonb,
                                      entity_type text, entity_id text) RETURNS SETOF notifications LANGUAGE sql
            AS $$ INSERT INTO notifications (user_id, kind, title, body, data, entity_type, entity_id)
                  VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING * $$;
        -- A `system` message in the project's conversation (none if it has
        -- none), at the conversation's next seq; returned for delivery.
        CREATE FUNCTION market_system_message(project bigint, message text) RETURNS SETOF messages LANGUAGE sql
            AS $$ WITH c AS (
                      UPDATE conversations c SET last_seq = c.last_seq + 1, last_message_at = now()
                      FROM projects pj WHERE pj.id = $1 AND c.id = pj.conversation_id
                      RETURNING c.id, c.last_seq)
                  INSERT INTO messages (conversation_id, seq, sender_id, client_msg_id, kind, body)
                  SELECT id, last_seq, 'system', 'system-' || id || '-' || last_seq, 'system', jsonb_build_object('text', $2) FROM c
                  RETURNING * $$;
        """

    /// The rows a market statement answers with: one function per row type,
    /// called on whole rows; scalar SQL functions without a FROM, so the
    /// planner inlines them; the names are the columns the store decodes by
    /// (MarketRows.swift). And a statement's refusal (migration 10).
    static let records = """
        CREATE FUNCTION market_project_record(p projects) RETURNS jsonb LANGUAGE sql STABLE
            AS $$ SELECT jsonb_build_object('id', p.id, 'client', p.client_id, 'craftsman', p.craftsman_id, 'title', p.title,
                      'status', p.status, 'estimated_budget', p.estimated_budget, 'currency', p.currency,
                      'payment_status', p.payment_status, 'conversation', p.conversation_id,
                      'created_at', epoch_ms(p.created_at)) $$;
        -- A contract's status is derived: superseded, signed, expired or pending.
        CREATE FUNCTION market_contract_record(c contracts) RETURNS jsonb LANGUAGE sql STABLE
            AS $$ SELECT jsonb_build_object('id', c.id, 'project', c.project_id, 'number', c.number, 'terms', c.terms,
                      'parent', c.parent_id, 'superseded_by', c.superseded_by,
                      'client_signed_at', epoch_ms(c.client_signed_at), 'craftsman_signed_at', epoch_ms(c.craftsman_signed_at),
                      'signed_at', epoch_ms(c.signed_at), 'expires_at', epoch_ms(c.expires_at),
                      'status', CASE WHEN c.superseded_by IS NOT NULL THEN 'superseded' WHEN c.signed_at IS NOT NULL THEN 'signed'
                                     WHEN c.expires_at <= now() THEN 'expired' ELSE 'pending' END) $$;
        CREATE FUNCTION market_milestone_record(m milestones) RETURNS jsonb LANGUAGE sql STABLE
            AS $$ SELECT jsonb_build_object('id', m.id, 'project', m.project_id, 'title', m.title, 'due_on', m.due_on,
                      'amount', m.amount, 'percentage', m.percentage, 'requires_approval', m.requires_approval,
                      'completed_at', epoch_ms(m.completed_at), 'approved_at', epoch_ms(m.approved_at)) $$;
        -- Also the answer stored for an idempotency key (idempotency_keys.response).
        CREATE FUNCTION market_payment_record(p payments) RETURNS jsonb LANGUAGE sql STABLE
            AS $$ SELECT jsonb_build_object('id', p.id, 'project', p.project_id, 'milestone', p.milestone_id, 'type', p.type,
                      'amount', p.amount, 'currency', p.currency, 'status', p.status, 'method', p.method, 'escrow', p.escrow,
                      'released_at', epoch_ms(p.released_at), 'refunded_amount', p.refunded_amount,
                      'platform_fee', p.platform_fee, 'provider_fee', p.provider_fee, 'net_amount', p.net_amount,
                      'installment_number', p.installment_number, 'installment_count', p.installment_count,
                      'provider_reference', p.provider_reference, 'created_at', epoch_ms(p.created_at)) $$;
        -- A notification to push ('n' rows), as PostgresStore.notification(_:) reads it.
        CREATE FUNCTION market_notification_record(n notifications) RETURNS text LANGUAGE sql STABLE
            AS $$ SELECT json_build_object('id', n.id, 'user_id', n.user_id, 'kind', n.kind, 'title', n.title, 'body', n.body,
                      'data', n.data, 'entity_type', n.entity_type, 'entity_id', n.entity_id,
                      'created_at', epoch_ms(n.created_at), 'read_at', epoch_ms(n.read_at))::text $$;
        -- A system message to deliver ('s' rows), with its conversation's members.
        CREATE FUNCTION market_message_record(m messages) RETURNS jsonb LANGUAGE sql STABLE
            AS $$ SELECT jsonb_build_object('conversation', m.conversation_id, 'id', m.id, 'seq', m.seq,
                      'client_msg_id', m.client_msg_id, 'body', m.body, 'created_at', epoch_ms(m.created_at),
                      'members', chat_members(m.conversation_id)::jsonb) $$;
        -- A statement's refusal ('x' row): "code:message".
        CREATE FUNCTION market_refusal(refusal text) RETURNS text LANGUAGE sql STABLE
            AS $$ SELECT json_build_object('refusal', refusal)::text $$;
        """
}
